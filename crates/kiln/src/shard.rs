//! Sharded fleets: the I-th of N disjoint, stable parts of a fleet, for a CI matrix or a
//! workflow fan-out.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// One part of a fleet split N ways (`I/N`, 1-based). A release belongs to the part picked
/// by a hash of its name, so it keeps its part when other releases come and go; the N parts
/// are disjoint and together are the whole fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The `index`-th (1-based) of `count` parts; `None` unless `1 <= index <= count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index >= 1 && index <= count).then_some(Shard { index, count })
    }

    /// Which part (1-based) of `count` the release named `name` is in.
    pub fn of(name: &str, count: u32) -> u32 {
        let digest = Sha256::digest(name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether the release named `name` is in this part.
    pub fn contains(&self, name: &str) -> bool {
        Shard::of(name, self.count) == self.index
    }

    /// The part's number, 1-based.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many parts the fleet is split into.
    pub fn count(&self) -> u32 {
        self.count
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`: N at least 1, I from 1 to N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse::<u32>().ok()
        };
        let (i, n) = (number(i).ok_or_else(bad)?, number(n).ok_or_else(bad)?);
        Shard::new(i, n).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(
            "1/1".parse::<Shard>().map(|s| s.to_string()),
            Ok("1/1".into())
        );
        for bad in [
            "0/4", "5/4", "1/0", "2", "/4", "2/", "a/4", "-1/4", "+1/4", " 1/4", "1/4/2",
        ] {
            assert_eq!(
                bad.parse::<Shard>(),
                Err(format!("`{bad}`: expected I/N with 1 <= I <= N, e.g. 2/4")),
                "{bad}"
            );
        }
    }

    #[test]
    fn parts_are_disjoint_cover_the_fleet_and_stay_put() {
        let names: Vec<String> = (0..1000).map(|i| format!("cust-{i:04}")).collect();
        let mut sizes = [0usize; 4];
        for name in &names {
            let parts: Vec<u32> = (1..=4)
                .filter(|&i| Shard::new(i, 4).unwrap().contains(name))
                .collect();
            assert_eq!(parts.len(), 1, "{name}: {parts:?}");
            sizes[parts[0] as usize - 1] += 1;
            // The part depends on the name alone, not on the other releases.
            assert_eq!(Shard::of(name, 4), parts[0]);
        }
        // A hash spreads the fleet: no part is empty or holds most of it.
        assert!(sizes.iter().all(|&s| (150..350).contains(&s)), "{sizes:?}");
        // Pinned (first 8 bytes of SHA-256 of the name, big-endian, modulo N): a release's
        // part must not move between kiln versions.
        assert_eq!(
            ["cust-0000", "cust-0001", "cust-0002", "acme"].map(|n| Shard::of(n, 4)),
            [1, 4, 4, 1]
        );
    }
}
