//! Embedding vectors as bytes: little-endian f32s, exact (the store keeps them so, and
//! cassettes in base64).

pub fn to_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector of little-endian f32 bytes; None when the length is not a multiple of 4.
pub fn from_le_bytes(b: &[u8]) -> Option<Vec<f32>> {
    b.len().is_multiple_of(4).then(|| {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_round_trip_bit_for_bit() {
        let v = vec![0.1, -2.5e-8, f32::MAX, f32::MIN_POSITIVE, -0.0];
        let back = super::from_le_bytes(&super::to_le_bytes(&v)).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(super::from_le_bytes(&[1, 2, 3]), None);
    }
}
