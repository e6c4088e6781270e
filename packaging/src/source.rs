//! Buffered input with a little lookahead and a byte offset: what the image reader walks, raw
//! or decompressed. The buffer is fixed (64 KiB), so reading an image of any size, from a
//! file, a pipe or a decoder, holds no more than that.

use std::io::{self, BufRead, Read};

const CAPACITY: usize = 64 << 10;

pub struct Source<'a> {
    inner: Box<dyn Read + 'a>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Offset of `buf[start]` from the beginning of the stream.
    offset: u64,
}

impl<'a> Source<'a> {
    pub fn new(inner: impl Read + 'a) -> Source<'a> {
        Source { inner: Box::new(inner), buf: vec![0; CAPACITY].into_boxed_slice(), start: 0, end: 0, offset: 0 }
    }

    /// How many bytes have been consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Up to `n` (at most 64 KiB) bytes ahead, without consuming them; fewer only at the end.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(CAPACITY);
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(got) => self.end += got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let avail = (self.end - self.start).min(n);
        Ok(&self.buf[self.start..self.start + avail])
    }

    /// Skips `n` bytes (streamed, never buffered whole); the number actually skipped, less only
    /// at the end of the stream.
    pub fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let wanted = n;
        while n > 0 {
            let have = self.fill_buf()?.len();
            if have == 0 {
                break;
            }
            let step = (have as u64).min(n) as usize;
            self.consume(step);
            n -= step as u64;
        }
        Ok(wanted - n)
    }
}

impl Read for Source<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && out.len() >= CAPACITY {
            let n = self.inner.read(out)?;
            self.offset += n as u64;
            return Ok(n);
        }
        let have = self.fill_buf()?;
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Source<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => {
                        self.end = n;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, as a pipe or a decoder may.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            if out.is_empty() {
                return Ok(0);
            }
            out[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn peek_gathers_across_short_reads_and_offsets_count_consumed_bytes() {
        let data: Vec<u8> = (0..200u8).collect();
        let mut s = Source::new(Trickle(&data));
        assert_eq!(s.peek(6).unwrap(), &data[..6]);
        assert_eq!(s.offset(), 0);
        assert_eq!(s.skip(10).unwrap(), 10);
        let mut four = [0; 4];
        s.read_exact(&mut four).unwrap();
        assert_eq!(four, [10, 11, 12, 13]);
        assert_eq!(s.offset(), 14);
        assert_eq!(s.skip(1000).unwrap(), 186, "skip stops at the end");
        assert!(s.peek(4).unwrap().is_empty());
    }
}
