//! Salesforce record ids: 15 case-sensitive characters plus a 3-character
//! checksum that makes the 18-character form case-insensitive.

/// The alphabet ids are counted in; its ASCII order is also its numeric
/// order, so sequential ids sort the way they were made.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The alphabet the checksum characters are drawn from.
const CHECKSUM: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Builds the 18-character id of the `seq`-th record of a key prefix.
///
/// `pod` is two characters standing for the instance the record lives on;
/// the generator derives it from the seed so different seeds give different ids.
pub fn make_id(key_prefix: &str, pod: &str, seq: u64) -> String {
    let mut id = String::with_capacity(18);
    id.push_str(key_prefix);
    id.push_str(pod);
    let mut digits = [b'0'; 10];
    let mut n = seq;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    id.extend(digits.iter().map(|&b| b as char));
    let suffix = checksum(&id);
    id.push_str(&suffix);
    id
}

/// Computes the 3-character checksum of a 15-character id.
pub fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .take(3)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (j, _)| acc | (1 << j));
            CHECKSUM[bits] as char
        })
        .collect()
}

/// Turns a 15- or 18-character id, in any letter case for the latter,
/// into the canonical 18-character id; `None` when it is not an id.
pub fn normalize(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(format!("{id}{}", checksum(id))),
        18 => Some(restore_case(id)),
        _ => None,
    }
}

/// Uses the checksum of an 18-character id to put back the letter case of
/// its first 15 characters.
fn restore_case(id: &str) -> String {
    let bytes = id.as_bytes();
    let mut out: Vec<u8> = bytes[..15].to_vec();
    for (chunk, &check) in bytes[15..].iter().enumerate() {
        let upper = check.to_ascii_uppercase();
        let bits = CHECKSUM.iter().position(|&c| c == upper).unwrap_or(0);
        for j in 0..5 {
            let b = &mut out[chunk * 5 + j];
            if bits & (1 << j) != 0 {
                *b = b.to_ascii_uppercase();
            } else {
                *b = b.to_ascii_lowercase();
            }
        }
    }
    let id15 = String::from_utf8_lossy(&out).into_owned();
    let suffix = checksum(&id15);
    id15 + &suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_documented_example() {
        assert_eq!(normalize("005i0000002MUqL").unwrap(), "005i0000002MUqLAAW");
    }

    #[test]
    fn eighteen_character_ids_are_case_insensitive() {
        let id = make_id("003", "Dx", 123_456_789);
        assert_eq!(id.len(), 18);
        assert_eq!(normalize(&id.to_lowercase()).unwrap(), id);
        assert_eq!(normalize(&id.to_uppercase()).unwrap(), id);
    }

    #[test]
    fn sequential_ids_sort_in_order() {
        let a = make_id("001", "Ab", 61);
        let b = make_id("001", "Ab", 62);
        assert!(a < b);
    }
}
