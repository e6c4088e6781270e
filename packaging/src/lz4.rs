//! The kernel's lz4 format (`lz4 -l`, "legacy"), decoded as a stream: after the magic, blocks
//! that decode to at most 8 MiB, each a little-endian compressed size and an independent LZ4
//! block. Each block is decoded sequence by sequence with a 64 KiB history (the farthest an LZ4
//! match reaches back), so neither a compressed nor a decoded block is ever held whole.

use std::io::{self, BufRead, Read};

use crate::source::Source;

pub const MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
/// What one block may decode to (the kernel's buffer), and so what it may hold compressed.
const BLOCK: u64 = 8 << 20;
const BOUND: u64 = BLOCK + BLOCK / 255 + 16;
const WINDOW: usize = 1 << 16;

#[derive(Clone, Copy)]
enum State {
    /// Between blocks.
    Header,
    /// At a sequence's token.
    Token,
    /// Literals still to copy, then a match (if the block goes on) of `low` + 4 bytes or more.
    Literals {
        left: u64,
        low: u8,
    },
    Match {
        offset: usize,
        left: u64,
    },
}

pub struct Legacy<'s, 'a> {
    src: &'s mut Source<'a>,
    state: State,
    /// Compressed bytes of the current block not read yet.
    input: u64,
    /// Bytes the current block has decoded to.
    out: u64,
    history: Box<[u8]>,
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("lz4 data is corrupt: {why}"))
}

impl<'s, 'a> Legacy<'s, 'a> {
    /// The stream after its magic, which `src` starts with.
    pub fn new(src: &'s mut Source<'a>) -> Legacy<'s, 'a> {
        src.consume(MAGIC.len());
        Legacy { src, state: State::Header, input: 0, out: 0, history: vec![0; WINDOW].into_boxed_slice() }
    }

    /// The next block's header. There is no end marker: the stream ends where the input does or
    /// where the next word is not a plausible block size (padding, another archive), which is
    /// left unread.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            let Ok(word) = <[u8; 4]>::try_from(self.src.peek(4)?) else { return Ok(false) };
            if word == MAGIC {
                self.src.consume(4); // a new stream concatenated to this one
                continue;
            }
            let size = u64::from(u32::from_le_bytes(word));
            if size == 0 || size > BOUND {
                return Ok(false);
            }
            self.src.consume(4);
            (self.input, self.out, self.state) = (size, 0, State::Token);
            return Ok(true);
        }
    }

    fn byte(&mut self) -> io::Result<u8> {
        if self.input == 0 {
            return Err(corrupt("a block ends inside a sequence"));
        }
        let b = *self.src.fill_buf()?.first().ok_or_else(|| corrupt("the stream ends inside a block"))?;
        self.src.consume(1);
        self.input -= 1;
        Ok(b)
    }

    /// A length whose 4-bit part was 15: bytes follow, added up until one is not 255.
    fn length(&mut self, mut n: u64) -> io::Result<u64> {
        loop {
            let b = self.byte()?;
            n += u64::from(b);
            if b != 255 {
                return Ok(n);
            }
        }
    }

    fn grow(&mut self, k: usize) -> io::Result<usize> {
        if self.out + k as u64 > BLOCK {
            return Err(corrupt("a block decodes to more than 8 MiB"));
        }
        Ok(k)
    }
}

impl Read for Legacy<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Header => {
                    if !self.next_block()? {
                        return Ok(0);
                    }
                }
                State::Token if self.input == 0 => self.state = State::Header,
                State::Token => {
                    let t = self.byte()?;
                    let left = if t >> 4 == 15 { self.length(15)? } else { u64::from(t >> 4) };
                    self.state = State::Literals { left, low: t & 15 };
                }
                // The last sequence of a block has literals only.
                State::Literals { left: 0, .. } if self.input == 0 => self.state = State::Header,
                State::Literals { left: 0, low } => {
                    let offset = usize::from(u16::from_le_bytes([self.byte()?, self.byte()?]));
                    if offset == 0 || offset as u64 > self.out {
                        return Err(corrupt("a match reaches before its block"));
                    }
                    let base = u64::from(low) + 4;
                    let left = if low == 15 { self.length(base)? } else { base };
                    self.state = State::Match { offset, left };
                }
                State::Literals { left, low } => {
                    let avail = self.src.fill_buf()?;
                    let k = (avail.len() as u64).min(left).min(self.input).min(buf.len() as u64) as usize;
                    if k == 0 {
                        return Err(corrupt("the literals go past the block"));
                    }
                    if self.out + k as u64 > BLOCK {
                        return Err(corrupt("a block decodes to more than 8 MiB"));
                    }
                    buf[..k].copy_from_slice(&avail[..k]);
                    let at = self.out as usize;
                    for (i, &b) in avail[..k].iter().enumerate() {
                        self.history[(at + i) % WINDOW] = b;
                    }
                    self.src.consume(k);
                    (self.input, self.out) = (self.input - k as u64, self.out + k as u64);
                    self.state = State::Literals { left: left - k as u64, low };
                    return Ok(k);
                }
                State::Match { left: 0, .. } => self.state = State::Token,
                State::Match { offset, left } => {
                    let k = self.grow(left.min(buf.len() as u64) as usize)?;
                    for out in buf[..k].iter_mut() {
                        let at = self.out as usize;
                        let b = self.history[(at + WINDOW - offset) % WINDOW];
                        self.history[at % WINDOW] = b;
                        *out = b;
                        self.out += 1;
                    }
                    self.state = State::Match { offset, left: left - k as u64 };
                    return Ok(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::tests::pipe_through;

    fn decode(data: &[u8]) -> io::Result<(Vec<u8>, usize)> {
        let mut src = Source::new(data);
        let mut out = Vec::new();
        Legacy::new(&mut src).read_to_end(&mut out)?;
        Ok((out, src.offset() as usize))
    }

    /// What `lz4 -l` writes, compressible or not, over several blocks, with what follows it
    /// left unread.
    #[test]
    fn decodes_what_lz4_l_writes() {
        let mut x = 0x9e3779b97f4a7c15u64;
        let mut noise = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        let mut data: Vec<u8> = (0..3 << 20).map(|_| noise()).collect();
        data.extend(b"a line that repeats, with a number: 1234\n".repeat(200_000));
        data.extend((0..100_000).map(|i| (i % 251) as u8));
        let Some(out) = pipe_through("lz4", &["-l", "-c", "-q"], &data) else { return };
        let mut packed = out.stdout;
        let end = packed.len();
        packed.extend([0, 0, 0, 0]);
        packed.extend(b"070701");
        let (decoded, used) = decode(&packed).unwrap();
        assert!(decoded == data, "{} bytes decoded of {}", decoded.len(), data.len());
        assert_eq!(used, end, "the padding after the stream is left");
    }

    #[test]
    fn hostile_blocks_are_errors() {
        let block = |b: &[u8]| {
            let mut v = MAGIC.to_vec();
            v.extend((b.len() as u32).to_le_bytes());
            v.extend(b);
            v
        };
        // A match before anything was decoded.
        let err = decode(&block(&[0x0f, 1, 0, 0])).unwrap_err().to_string();
        assert!(err.contains("reaches before"), "{err}");
        // One literal, then a match whose length bytes add up past 8 MiB: a few KiB that
        // would decode to 10 MB.
        let mut long = vec![0x1f, b'a', 1, 0];
        long.extend(std::iter::repeat_n(255, 40_000));
        long.push(0);
        let err = decode(&block(&long)).unwrap_err().to_string();
        assert!(err.contains("more than 8 MiB"), "{err}");
        // Literals promised past the block's end.
        let err = decode(&block(&[0x50, b'a', b'b'])).unwrap_err().to_string();
        assert!(err.contains("past the block") || err.contains("ends inside"), "{err}");
        // A declared block larger than any real one is where the stream ends.
        let mut big = MAGIC.to_vec();
        big.extend(u32::MAX.to_le_bytes());
        assert_eq!(decode(&big).unwrap(), (Vec::new(), 4));
    }
}
