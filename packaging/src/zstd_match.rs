//! A match finder for ruzstd's encoder that makes `rdbreak build`'s zstd images as small as
//! `zstd -3` makes them or smaller. ruzstd's own (its only level, "Fastest") looks back 128 KiB
//! and keeps one candidate per hash: 10.0 MB for a default image that `zstd -3` makes 6.3 MB.
//! This one keeps hash chains over an 8 MiB window (`zstd -3` looks back 2 MiB), weighs a match
//! as zstd does (4 per byte, less the bits of its offset) and looks one and two bytes ahead
//! for a better one (zstd's lazy2). On the test kernel's default image: 6,217,383 bytes, where
//! `zstd -3` makes 6,282,583 and ruzstd's own 10,036,430.
//! The kernel's and rdbreak's own decoders accept the window (both take up to 8 MiB).

use ruzstd::encoding::{CompressionLevel, Matcher, Sequence};

/// How far back matches reach, and the window the frame declares.
pub const WINDOW: usize = 8 << 20;
/// One block of input, as the encoder asks for it (zstd's largest block).
const BLOCK: usize = 128 << 10;
const HASH_LOG: u32 = 20;
/// Candidates tried per position: bounds the work on repetitive data.
const DEPTH: usize = 64;
const MIN_MATCH: usize = 4;

/// The longest match asked of the encoder (zstd's sequence codes go a little further).
const MAX_MATCH: usize = 65_536;

pub struct ChainMatcher {
    /// How far back matches reach ([`WINDOW`]; smaller in tests).
    window: usize,
    /// The window and the block being matched; `data[0]` is the absolute position `base`.
    data: Vec<u8>,
    base: usize,
    /// Where the last committed block starts (absolute).
    block: usize,
    /// Hash of 4 bytes → the last absolute position with it, plus 1 (0: none).
    head: Vec<u32>,
    /// Position modulo the window → the previous position with the same hash, plus 1.
    chain: Vec<u32>,
    /// Positions below this are in the hash chains.
    inserted: usize,
}

impl Default for ChainMatcher {
    fn default() -> Self {
        ChainMatcher::new(WINDOW)
    }
}

impl ChainMatcher {
    pub fn new(window: usize) -> Self {
        ChainMatcher {
            window,
            data: Vec::new(),
            base: 0,
            block: 0,
            head: vec![0; 1 << HASH_LOG],
            chain: vec![0; window],
            inserted: 0,
        }
    }
}

/// (literals from, literals to, offset, match length), absolute positions.
type Found = (usize, usize, usize, usize);

impl ChainMatcher {
    fn end(&self) -> usize {
        self.base + self.data.len()
    }

    fn hash(&self, pos: usize) -> usize {
        let i = pos - self.base;
        let w = u32::from_le_bytes([self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]]);
        (w.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
    }

    /// Puts every position below `upto` (that has 4 bytes after it) in the chains.
    fn insert_until(&mut self, upto: usize) {
        let last = upto.min(self.end().saturating_sub(MIN_MATCH - 1));
        while self.inserted < last {
            let p = self.inserted;
            let h = self.hash(p);
            self.chain[p % self.window] = self.head[h];
            // Positions fit in u32: `compress` takes this matcher only for smaller inputs.
            self.head[h] = u32::try_from(p + 1).unwrap_or(0);
            self.inserted += 1;
        }
    }

    /// The best earlier match for `pos` within the window, ending by `limit`: (length, offset).
    /// Best by zstd's own measure: 4 per byte matched, less the bits of the offset, so a match
    /// a byte shorter but much closer wins.
    fn best(&self, pos: usize, limit: usize) -> (usize, usize) {
        if pos + MIN_MATCH > limit || pos + MIN_MATCH > self.end() {
            return (0, 0);
        }
        let max = (limit - pos).min(MAX_MATCH);
        let here = &self.data[pos - self.base..pos - self.base + max];
        let mut best = (0, 0);
        let mut best_gain = 0;
        let mut cand = self.head[self.hash(pos)] as usize;
        for _ in 0..DEPTH {
            let Some(c) = cand.checked_sub(1) else { break };
            if c >= pos || pos - c >= self.window || c < self.base {
                break;
            }
            let there = &self.data[c - self.base..];
            let len = here.iter().zip(there).take_while(|(a, b)| a == b).count();
            if len >= MIN_MATCH && gain(len, pos - c) > best_gain {
                best = (len, pos - c);
                best_gain = gain(len, pos - c);
                if len == max {
                    break;
                }
            }
            cand = self.chain[c % self.window] as usize;
        }
        best
    }

    fn sequences(&mut self) -> Vec<Found> {
        let (start, end) = (self.block, self.end());
        let mut found = Vec::new();
        let (mut lit, mut i) = (start, start);
        while i + MIN_MATCH <= end {
            self.insert_until(i);
            let (mut len, mut off) = self.best(i, end);
            if len == 0 {
                i += 1;
                continue;
            }
            // Lazy matching (zstd's lazy2): a better match one or two bytes later wins, if it
            // pays for the literal it leaves.
            for _ in 0..2 {
                self.insert_until(i + 1);
                let (next_len, next_off) = self.best(i + 1, end);
                if next_len == 0 || gain(next_len, next_off) <= gain(len, off) + 4 {
                    break;
                }
                i += 1;
                (len, off) = (next_len, next_off);
            }
            // ruzstd's table builder panics when every sequence of a block has no literals
            // (one symbol, code 0): the first sequence of a block gets one.
            if found.is_empty() && lit == i {
                i += 1;
                if len <= MIN_MATCH {
                    continue;
                }
                len -= 1;
            }
            found.push((lit, i, off, len));
            i += len;
            lit = i;
        }
        self.insert_until(end);
        found.push((lit, end, 0, 0));
        found
    }
}

/// zstd's measure of a match: 4 per byte, less the bits its offset costs.
fn gain(len: usize, offset: usize) -> i64 {
    4 * len as i64 - i64::from((offset + 3).ilog2())
}

impl Matcher for ChainMatcher {
    fn get_next_space(&mut self) -> Vec<u8> {
        vec![0; BLOCK]
    }

    fn get_last_space(&mut self) -> &[u8] {
        &self.data[self.block - self.base..]
    }

    fn commit_space(&mut self, space: Vec<u8>) {
        // Keep one window before the new block; drop older bytes in large steps.
        let keep_from = self.end().saturating_sub(self.window);
        if keep_from > self.base + self.window {
            self.data.drain(..keep_from - self.base);
            self.base = keep_from;
        }
        self.block = self.end();
        self.data.extend_from_slice(&space);
    }

    fn skip_matching(&mut self) {
        self.insert_until(self.end());
    }

    fn start_matching(&mut self, mut handle_sequence: impl for<'a> FnMut(Sequence<'a>)) {
        let found = self.sequences();
        for (from, to, offset, match_len) in found {
            let literals = &self.data[from - self.base..to - self.base];
            if match_len == 0 {
                handle_sequence(Sequence::Literals { literals });
            } else {
                handle_sequence(Sequence::Triple { literals, offset, match_len });
            }
        }
    }

    fn reset(&mut self, _level: CompressionLevel) {
        *self = ChainMatcher::new(self.window);
    }

    fn window_size(&self) -> u64 {
        self.window as u64
    }
}

/// `data` as one zstd frame made with [`ChainMatcher`].
pub fn compress(data: &[u8]) -> Vec<u8> {
    compress_with(data, WINDOW)
}

fn compress_with(data: &[u8], window: usize) -> Vec<u8> {
    if u32::try_from(data.len()).is_err() {
        // Positions would not fit the chains: ruzstd's own matcher.
        return ruzstd::encoding::compress_to_vec(data, CompressionLevel::Fastest);
    }
    let mut c =
        ruzstd::encoding::FrameCompressor::new_with_matcher(ChainMatcher::new(window), CompressionLevel::Fastest);
    c.set_source(data);
    c.set_drain(Vec::new());
    c.compress();
    c.take_drain().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A small window: the same code paths (sliding, reaching across blocks) on small data.
    const SMALL: usize = 1 << 18;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let packed = compress_with(data, SMALL);
        let mut out = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(&packed[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), data.len());
        assert!(out == data, "round trip");
        packed
    }

    fn random(n: usize, alphabet: &[u8]) -> Vec<u8> {
        let mut x = 0x2545f4914f6cdd1du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn round_trips_and_reaches_back_across_blocks() {
        roundtrip(b"");
        roundtrip(b"abc");
        roundtrip(&[0u8; 300_000]);
        // Text, then the same again 200 KB later: found across blocks.
        let chunk = random(50_000, b"acgt");
        let mut data = chunk.clone();
        data.extend(random(150_000, b"0123456789"));
        data.extend(&chunk);
        let packed = roundtrip(&data);
        let fastest = ruzstd::encoding::compress_to_vec(&data[..], CompressionLevel::Fastest);
        assert!(packed.len() + 5_000 < fastest.len(), "{} vs {}", packed.len(), fastest.len());
        // Longer than the window: the window slides.
        let mut long = Vec::new();
        while long.len() < 3 * SMALL {
            long.extend(&chunk[..10_000]);
            long.extend(format!("{}", long.len()).bytes());
        }
        roundtrip(&long);
    }

    /// Blocks whose every match follows the last without a literal (a period of 388 bytes)
    /// made ruzstd's table builder panic: each block's first sequence now has a literal.
    #[test]
    fn back_to_back_matches_in_every_block() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        assert!(roundtrip(&data).len() < 2_000);
        let data: Vec<u8> = b"ab".repeat(200_000);
        roundtrip(&data);
    }
}
