//! What stands between a caller and the dossiers: caller authentication, CSRF guard, query
//! limits, the démarche allowlist and the citizen-safe lookup. SECURITY.md is the threat model.
pub mod auth;
pub mod csrf;
pub mod limits;
pub mod usager;

pub use usager::{Access, CallerId};

use subtle::ConstantTimeEq;

/// Compares two byte strings in a time that depends only on the longer one's length, so that
/// neither a secret's content nor where a guess first differs shows in response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut equal = (a.len() as u64).ct_eq(&(b.len() as u64));
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        equal &= x.ct_eq(&y);
    }
    equal.into()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_bytes_and_lengths_match() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret\0"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
