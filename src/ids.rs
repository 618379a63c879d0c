//! Salesforce record ids: checking them and normalising them to 18 characters.
//!
//! Ids from the command line and from HTTP requests pass through here before
//! they reach SOQL, so nothing but the id alphabet can ever be spliced into a
//! query.

use std::fmt;

/// The alphabet that encodes the case of each 5-character chunk of an id.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An id that is not one Salesforce could have issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{0}` is not a Salesforce id: it must be 15 or 18 characters, not {1}")]
    Length(String, usize),
    #[error("`{0}` is not a Salesforce id: only letters and digits may appear")]
    Alphabet(String),
    #[error("`{0}` is not a Salesforce id: its last three characters are not the checksum of the first 15")]
    Checksum(String),
}

/// A checked 18-character Salesforce id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SfId(String);

impl SfId {
    /// Checks `raw` and returns its 18-character form.
    ///
    /// A 15-character id is case-sensitive and gains its checksum suffix. An
    /// 18-character id may come in any case: its suffix tells the case of the
    /// first 15 characters, so it is restored from there and checked.
    pub fn parse(raw: &str) -> Result<SfId, IdError> {
        // Ids are parsed by the hundred thousand: the printable form for an
        // error message is made only when there is an error.
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::Alphabet(printable(raw)));
        }
        match raw.len() {
            15 => Ok(SfId(format!("{raw}{}", suffix(raw.as_bytes())))),
            18 => parse_18(raw).ok_or_else(|| IdError::Checksum(printable(raw))),
            n => Err(IdError::Length(printable(raw), n)),
        }
    }

    /// The id as Salesforce writes it, 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three-character key prefix that names the object type.
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }
}

/// Checked ids packed end to end in one string. An id listing brings them
/// by the hundred thousand, and a `String` each would take three times the
/// memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList(String);

impl IdList {
    /// An empty list with room for `n` ids.
    pub fn with_capacity(n: usize) -> IdList {
        IdList(String::with_capacity(n * 18))
    }

    /// Adds an id.
    pub fn push(&mut self, id: &SfId) {
        self.0.push_str(id.as_str());
    }

    /// Checks `raw` as [`SfId::parse`] does and adds its 18-character
    /// form. An id already in that form, as listings send them, is
    /// checked in place and copied once.
    pub fn push_raw(&mut self, raw: &str) -> Result<(), IdError> {
        if is_canonical(raw.as_bytes()) {
            self.0.push_str(raw);
        } else {
            self.push(&SfId::parse(raw)?);
        }
        Ok(())
    }

    /// How many ids the list holds.
    pub fn len(&self) -> usize {
        self.0.len() / 18
    }

    /// Whether the list holds no id.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        // Every id is 18 ASCII characters, so these are char boundaries.
        (0..self.len()).map(|i| &self.0[i * 18..(i + 1) * 18])
    }
}

/// A set of checked ids kept in 12 bytes each, for the id listing of a
/// large type: a million ids in 12 MB, where a table of them costs more
/// time to fill than the rest of a nightly sync.
///
/// An 18-character id is fixed by its first 15 characters (the suffix is
/// their checksum), and each of those is one of 62, so 6 bits hold it.
/// The codes follow ASCII order, so packed ids sort as the ids do.
#[derive(Debug, Clone, Default)]
pub struct PackedIds {
    ids: Vec<[u8; 12]>,
    /// Whether `ids` is sorted with no id twice.
    sealed: bool,
}

impl PackedIds {
    /// Adds `id` if it is an 18-character id exactly as [`SfId::parse`]
    /// gives it back; tells whether it was.
    pub fn insert(&mut self, id: &str) -> bool {
        let canonical = is_canonical(id.as_bytes());
        if canonical {
            self.push(id.as_bytes());
        }
        canonical
    }

    /// Adds every id of `list`, which were checked when they went in.
    pub fn extend(&mut self, list: &IdList) {
        self.ids.reserve(list.len());
        for id in list.iter() {
            self.push(id.as_bytes());
        }
    }

    /// Adds a canonical id.
    fn push(&mut self, raw: &[u8]) {
        let packed = pack(raw);
        // Listings usually come in id order: an id after the last one
        // keeps the set sorted.
        self.sealed = self.ids.is_empty() || (self.sealed && self.ids.last() < Some(&packed));
        self.ids.push(packed);
    }

    /// Sorts the set and drops ids held twice, so that it can be walked
    /// in order and searched.
    pub fn seal(&mut self) {
        if !self.sealed {
            self.ids.sort_unstable();
            self.ids.dedup();
            self.sealed = true;
        }
    }

    /// Whether the set holds `id`; false for any id while the set is not
    /// sealed.
    pub fn contains(&self, id: &str) -> bool {
        self.sealed
            && is_canonical(id.as_bytes())
            && self.ids.binary_search(&pack(id.as_bytes())).is_ok()
    }

    /// Whether the set holds no id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.ids = Vec::new();
        self.sealed = false;
    }

    /// The ids in 18-character form: in id order once sealed.
    pub fn iter(&self) -> impl Iterator<Item = Unpacked> + '_ {
        self.ids.iter().map(unpack)
    }
}

/// An id of a [`PackedIds`], in its 18-character form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked([u8; 18]);

impl Unpacked {
    pub fn as_str(&self) -> &str {
        // Letters and digits only, as unpacked.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The 6-bit code of an id character, in ASCII order.
fn code(c: u8) -> u128 {
    u128::from(match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'Z' => c - b'A' + 10,
        _ => c - b'a' + 36,
    })
}

/// The character of a 6-bit code.
fn character(code: u8) -> u8 {
    match code {
        0..=9 => b'0' + code,
        10..=35 => b'A' + code - 10,
        _ => b'a' + code - 36,
    }
}

/// Packs the first 15 characters of a canonical id, the first in the
/// highest bits, so that byte order is id order.
fn pack(raw: &[u8]) -> [u8; 12] {
    let value = raw[..15]
        .iter()
        .fold(0u128, |value, &c| (value << 6) | code(c));
    let bytes = value.to_be_bytes();
    let mut packed = [0u8; 12];
    packed.copy_from_slice(&bytes[4..]);
    packed
}

/// The 18-character id of a packed one.
fn unpack(packed: &[u8; 12]) -> Unpacked {
    let mut bytes = [0u8; 16];
    bytes[4..].copy_from_slice(packed);
    let value = u128::from_be_bytes(bytes);
    let mut id = [0u8; 18];
    for (i, c) in id[..15].iter_mut().enumerate() {
        *c = character(((value >> (6 * (14 - i))) & 63) as u8);
    }
    let suffix = suffix_bytes(&id[..15]);
    id[15..].copy_from_slice(&suffix);
    Unpacked(id)
}

impl fmt::Display for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Restores the case of an 18-character id from its suffix and checks it.
fn parse_18(raw: &str) -> Option<SfId> {
    let bytes = raw.as_bytes();
    let mut head = [0u8; 15];
    for (chunk, code) in bytes[15..].iter().enumerate() {
        let bits = SUFFIX_ALPHABET
            .iter()
            .position(|c| c.eq_ignore_ascii_case(code))?;
        for j in 0..5 {
            let i = chunk * 5 + j;
            let b = bytes[i];
            head[i] = if bits & (1 << j) != 0 {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
        }
    }
    // A letter the suffix calls upper case must be a letter, and so on: the
    // recomputed suffix catches every mismatch at once.
    let expected = suffix(&head);
    if !expected.eq_ignore_ascii_case(&raw[15..]) {
        return None;
    }
    let head = String::from_utf8(head.to_vec()).ok()?;
    Some(SfId(format!("{head}{expected}")))
}

/// Whether `raw` is an 18-character id exactly as [`SfId::parse`] would
/// give it back: letters and digits, with the upper-case suffix of its
/// first 15 characters.
fn is_canonical(raw: &[u8]) -> bool {
    raw.len() == 18
        && raw.iter().all(u8::is_ascii_alphanumeric)
        && suffix_bytes(&raw[..15]) == raw[15..]
}

/// Computes the 3-character checksum suffix of a 15-character id.
fn suffix(head: &[u8]) -> String {
    suffix_bytes(head).iter().map(|&b| b as char).collect()
}

/// [`suffix`], as bytes.
fn suffix_bytes(head: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (code, chunk) in out.iter_mut().zip(head.chunks(5)) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |acc, (j, _)| acc | (1 << j));
        *code = SUFFIX_ALPHABET[bits];
    }
    out
}

/// A short, printable rendering of untrusted input for error messages.
fn printable(raw: &str) -> String {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).take(40).collect();
    if raw.chars().count() > 40 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_ids_come_back_whole_and_in_id_order() {
        let raw = [
            "005i0000002MUqLAAW",
            "0010000000zZzZ9AAK",
            "001000000000000AAA",
            "003zzzzzzzzzzzzAAA",
            "003ZZZZZZZZZZZZ",
        ];
        let mut set = PackedIds::default();
        for id in raw {
            let id = SfId::parse(id).unwrap();
            assert!(set.insert(id.as_str()), "{id}");
            assert!(set.insert(id.as_str()), "{id}");
        }
        assert!(!set.contains("005i0000002MUqLAAW"), "not sealed yet");
        set.seal();
        let mut expected: Vec<String> = raw
            .iter()
            .map(|id| SfId::parse(id).unwrap().to_string())
            .collect();
        expected.sort();
        let back: Vec<String> = set.iter().map(|id| id.as_str().to_string()).collect();
        assert_eq!(back, expected);
        assert!(set.contains("005i0000002MUqLAAW"));
        assert!(!set.contains("005i0000002MUqMAAW"));
        assert!(
            !set.contains("005i0000002MUqL"),
            "only the 18-character form"
        );
    }

    proptest::proptest! {
        #[test]
        fn packing_keeps_every_id_and_its_order(
            heads in proptest::collection::vec("[0-9A-Za-z]{15}", 1..60)
        ) {
            let ids: Vec<String> = heads
                .iter()
                .map(|head| SfId::parse(head).unwrap().to_string())
                .collect();
            let mut set = PackedIds::default();
            for id in &ids {
                proptest::prop_assert!(set.insert(id));
            }
            set.seal();
            let mut expected = ids.clone();
            expected.sort();
            expected.dedup();
            let back: Vec<String> = set.iter().map(|id| id.as_str().to_string()).collect();
            proptest::prop_assert_eq!(back, expected);
            for id in &ids {
                proptest::prop_assert!(set.contains(id));
            }
        }
    }

    #[test]
    fn only_canonical_ids_are_packed() {
        let mut set = PackedIds::default();
        assert!(!set.insert("005i0000002muqlaaw"));
        assert!(!set.insert("005i0000002MUqL"));
        assert!(!set.insert("not an id at all!!"));
        assert!(set.is_empty());
    }

    #[test]
    fn fifteen_gains_its_suffix() {
        let id = SfId::parse("005i0000002MUqL").unwrap();
        assert_eq!(id.as_str(), "005i0000002MUqLAAW");
        assert_eq!(id.key_prefix(), "005");
    }

    #[test]
    fn eighteen_in_any_case_is_restored() {
        for raw in [
            "005i0000002MUqLAAW",
            "005I0000002MUQLAAW",
            "005i0000002muqlaaw",
        ] {
            assert_eq!(SfId::parse(raw).unwrap().as_str(), "005i0000002MUqLAAW");
        }
    }

    #[test]
    fn wrong_checksum_is_refused() {
        assert!(matches!(
            SfId::parse("005i0000002MUqLAAX"),
            Err(IdError::Checksum(_))
        ));
    }

    #[test]
    fn digit_where_suffix_wants_upper_case_is_refused() {
        // Bit 0 of the first chunk set means character 0 is upper case, but it is a digit.
        assert!(SfId::parse("005i0000002MUqLBAW").is_err());
    }

    #[test]
    fn bad_length_and_alphabet_are_refused() {
        assert!(matches!(SfId::parse("003abc"), Err(IdError::Length(_, 6))));
        assert!(matches!(
            SfId::parse("003' OR Id != '"),
            Err(IdError::Alphabet(_))
        ));
        assert!(matches!(SfId::parse(""), Err(IdError::Length(_, 0))));
    }

    #[test]
    fn an_id_list_checks_raw_ids_as_parse_does() {
        let raws = [
            "005i0000002MUqLAAW",
            "005i0000002muqlaaw",
            "005i0000002MUqL",
            "005i0000002MUqLAAX",
            "005i0000002MUqLBAW",
            "005i0000002MUqL'AW",
            "003abc",
        ];
        for raw in raws {
            let mut list = IdList::with_capacity(1);
            let pushed = list.push_raw(raw);
            match SfId::parse(raw) {
                Ok(id) => {
                    assert_eq!(pushed, Ok(()), "{raw}");
                    assert_eq!(list.iter().collect::<Vec<_>>(), [id.as_str()], "{raw}");
                }
                Err(e) => {
                    assert_eq!(pushed, Err(e), "{raw}");
                    assert!(list.is_empty(), "{raw}");
                }
            }
        }
    }

    #[test]
    fn an_id_list_gives_back_its_ids_in_order() {
        let mut list = IdList::with_capacity(1);
        assert!(list.is_empty());
        let a = SfId::parse("001000000000001").unwrap();
        let b = SfId::parse("003R000000A1BCDIA3").unwrap();
        list.push(&a);
        list.push(&b);
        assert_eq!(list.len(), 2);
        let ids: Vec<&str> = list.iter().collect();
        assert_eq!(ids, [a.as_str(), b.as_str()]);
    }
}
