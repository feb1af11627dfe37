//! `Codes`: one small number per case, packed in as few bits as the largest needs.
//!
//! The words are kept in chunks of 64 KiB, never in one vector that grows: a vector grown by
//! reallocation leaves its old blocks behind, and with a dozen columns growing side by side
//! those holes were most of what a comparison of a million cases held beyond its numbers
//! (glibc serves blocks of that size from its heap once a larger block was freed, and a
//! heap cannot give back a hole between live blocks). Chunks of one size are reused as they
//! are freed, so what is held is the numbers' bits and at most one part-filled chunk a column.

/// Words of a full chunk: 64 KiB, below glibc's smallest threshold for a block of its own.
const CHUNK_WORDS: usize = 1 << CHUNK_SHIFT;
const CHUNK_SHIFT: u32 = 13;
/// Words a column's first chunk starts with: a small comparison holds a few bytes, not 64 KiB.
const FIRST_WORDS: usize = 16;

/// The lowest `width` bits (`width` from 1 to 64).
#[inline]
pub(super) fn mask(width: u32) -> u64 {
    u64::MAX >> (64 - width)
}

/// Numbers of `width` bits each (up to 64), packed in 64-bit words; the width grows when a
/// larger number comes.
#[derive(Default)]
pub(super) struct Codes {
    /// Every chunk but the last holds `CHUNK_WORDS` words; the last grows up to that.
    chunks: Vec<Vec<u64>>,
    /// Words in all.
    words: usize,
    width: u32,
    len: usize,
}

impl Codes {
    /// Numbers of `width` bits from the start (each number pushed must fit).
    pub fn with_width(width: u32) -> Codes {
        Codes {
            width,
            ..Codes::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bits of each number: 0 while every number is 0.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Bytes held by the words (capacity, not only the words used).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.capacity() * 8).sum()
    }

    pub fn push(&mut self, code: u64) {
        let need = u64::BITS - code.leading_zeros();
        if need > self.width {
            self.widen(need);
        }
        self.len += 1;
        self.set(self.len - 1, code);
    }

    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        self.chunks[w >> CHUNK_SHIFT][w & (CHUNK_WORDS - 1)]
    }

    #[inline]
    fn word_mut(&mut self, w: usize) -> &mut u64 {
        &mut self.chunks[w >> CHUNK_SHIFT][w & (CHUNK_WORDS - 1)]
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> u64 {
        debug_assert!(i < self.len);
        if self.width == 0 {
            return 0;
        }
        let width = self.width as usize;
        let bit = i * width;
        let (w, off) = (bit / 64, bit % 64);
        let mut v = self.word(w) >> off;
        if off + width > 64 {
            v |= self.word(w + 1) << (64 - off);
        }
        v & mask(self.width)
    }

    /// Replaces the `i`th number (`i` below `len`; `code` fits the width).
    pub fn set(&mut self, i: usize, code: u64) {
        if self.width == 0 {
            return;
        }
        let width = self.width as usize;
        let bit = i * width;
        self.grow_to((bit + width).div_ceil(64));
        let (w, off) = (bit / 64, bit % 64);
        let mask = mask(self.width);
        let v = code & mask;
        let word = self.word_mut(w);
        *word = (*word & !(mask << off)) | (v << off);
        if off + width > 64 {
            let high = 64 - off;
            let word = self.word_mut(w + 1);
            *word = (*word & !(mask >> high)) | (v >> high);
        }
    }

    /// Makes room for `words` words in all (new ones 0).
    fn grow_to(&mut self, words: usize) {
        while self.words < words {
            if !matches!(self.chunks.last(), Some(c) if c.len() < CHUNK_WORDS) {
                let first = if self.chunks.is_empty() {
                    FIRST_WORDS
                } else {
                    CHUNK_WORDS
                };
                self.chunks.push(Vec::with_capacity(first));
            }
            let Some(last) = self.chunks.last_mut() else {
                return;
            };
            let add = (words - self.words).min(CHUNK_WORDS - last.len());
            if last.capacity() < last.len() + add {
                // Doubles up to a full chunk (only the first chunk starts small).
                let cap = (last.capacity() * 2).max(last.len() + add).min(CHUNK_WORDS);
                last.reserve_exact(cap - last.len());
            }
            last.resize(last.len() + add, 0);
            self.words += add;
        }
    }

    /// Repacks the numbers at a larger width, freeing each old chunk once it is read.
    fn widen(&mut self, width: u32) {
        let old = std::mem::take(self);
        self.width = width;
        self.len = old.len;
        for (i, code) in old.into_values().enumerate() {
            self.set(i, code);
        }
    }

    /// The numbers in order, each chunk freed once its numbers are read.
    pub fn into_values(self) -> IntoValues {
        IntoValues {
            codes: self,
            next: 0,
            freed: 0,
        }
    }
}

/// `Codes::into_values`.
pub(super) struct IntoValues {
    codes: Codes,
    next: usize,
    freed: usize,
}

impl Iterator for IntoValues {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let i = self.next;
        if i >= self.codes.len {
            self.codes.chunks = Vec::new();
            return None;
        }
        let code = self.codes.get(i);
        self.next += 1;
        // Every chunk before the one the next number starts in is read.
        let first = (self.next * self.codes.width as usize / 64) >> CHUNK_SHIFT;
        while self.freed < first.min(self.codes.chunks.len()) {
            self.codes.chunks[self.freed] = Vec::new();
            self.freed += 1;
        }
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_give_back_the_numbers_pushed_as_they_widen() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut codes = Codes::default();
        let mut pushed = Vec::new();
        // Zero bits while every number is 0, then one, then wider, up to 64 bits; words
        // crossed by a number at every width.
        for round in 0..90_000u64 {
            let top = match round {
                0..1000 => 0,
                1000..2000 => 1,
                _ => u64::MAX >> (64 - (round / 1300).min(64)),
            };
            let code = if top == 0 { 0 } else { rng.u64(0..=top) };
            codes.push(code);
            pushed.push(code);
        }
        assert_eq!(codes.len(), pushed.len());
        for (i, &c) in pushed.iter().enumerate() {
            assert_eq!(codes.get(i), c, "{i}");
        }
        assert_eq!(codes.width, 64);
        codes.set(12_345, 7);
        pushed[12_345] = 7;
        codes.set(89_999, u64::MAX);
        pushed[89_999] = u64::MAX;
        assert!((0..pushed.len()).all(|i| codes.get(i) == pushed[i]));
    }

    #[test]
    fn numbers_across_chunks_and_widened_late_come_back() {
        // Widths that straddle words and chunk ends; widened after three chunks are full.
        let mut rng = fastrand::Rng::with_seed(11);
        for width in [1u32, 3, 7, 9, 13, 31, 33, 63] {
            let n = 3 * CHUNK_WORDS * 64 / width as usize + 77;
            let top = mask(width);
            let mut codes = Codes::default();
            let mut pushed: Vec<u64> = (0..n).map(|_| rng.u64(0..=top)).collect();
            pushed[0] = top;
            for &c in &pushed {
                codes.push(c);
            }
            assert_eq!(codes.width, width);
            assert!(codes.chunks.len() >= 4);
            assert!(codes.chunks[..3].iter().all(|c| c.len() == CHUNK_WORDS));
            assert!((0..n).all(|i| codes.get(i) == pushed[i]), "{width}");
            // Every word but the last chunk's spare room is used.
            let used = (n * width as usize).div_ceil(64) * 8;
            assert!(codes.bytes() < used + CHUNK_WORDS * 8, "{width}");
            // A wider number late repacks every number already there.
            codes.push(top + 1);
            pushed.push(top + 1);
            assert_eq!(codes.width, width + 1);
            assert!(
                (0..pushed.len()).all(|i| codes.get(i) == pushed[i]),
                "{width}"
            );
            let i = n / 2;
            codes.set(i, 1);
            pushed[i] = 1;
            assert!(
                (0..pushed.len()).all(|i| codes.get(i) == pushed[i]),
                "{width}"
            );
        }
    }

    #[test]
    fn a_small_column_holds_a_small_chunk() {
        let mut codes = Codes::default();
        for i in 0..100u64 {
            codes.push(i % 3);
        }
        assert_eq!(codes.width, 2);
        assert_eq!(codes.chunks.len(), 1);
        assert!(codes.bytes() <= 64 * 8, "{}", codes.bytes());
        assert!((0..100).all(|i| codes.get(i) == i as u64 % 3));
    }
}
