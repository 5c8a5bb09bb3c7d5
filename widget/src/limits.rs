//! What the server says it accepts: its limits message (`collab_core::wire::MSG_LIMITS`, sent
//! on join to `?ext=1` connections), the update budget per message that follows from it, and
//! the document size limit in words for the save line.

use yrs::encoding::read::Read;
use yrs::updates::decoder::DecoderV1;

/// The message size assumed until the server has said its own (an older server says
/// nothing): a quarter of the server's default 4 MiB, so that a lower setting still passes.
pub const ASSUMED_MAX_MESSAGE_SIZE: usize = 1 << 20;

const MIB: u64 = 1 << 20;

/// The server's limits, in bytes; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_size: u64,
    pub max_document_size: u64,
}

impl Limits {
    /// Reads the payload `varUint(max_message_size) • varUint(max_document_size)`; bytes
    /// after them are fields of a newer server, ignored. `None` if the two are not there.
    pub fn parse(payload: &[u8]) -> Option<Limits> {
        let mut decoder = DecoderV1::from(payload);
        let max_message_size = decoder.read_var::<u64>().ok()?;
        let max_document_size = decoder.read_var::<u64>().ok()?;
        Some(Limits {
            max_message_size,
            max_document_size,
        })
    }

    /// The document limit as the save line says it: whole MB (MiB, rounded), or KB for a
    /// limit under 1 MB; `None` without a limit.
    pub fn document_limit_words(&self) -> Option<String> {
        match self.max_document_size {
            0 => None,
            n if n < MIB => Some(format!("{} KB", (n + 512) / 1024)),
            n => Some(format!("{} MB", (n + MIB / 2) / MIB)),
        }
    }
}

/// The most bytes of update one message may carry: from the server's limit once it has said
/// it (none: no cutting at all), else from `ASSUMED_MAX_MESSAGE_SIZE`.
pub fn piece_budget(limits: Option<&Limits>) -> usize {
    match limits.map(|limits| limits.max_message_size) {
        None => collab_core::split::piece_budget(ASSUMED_MAX_MESSAGE_SIZE),
        Some(0) => usize::MAX,
        Some(n) => collab_core::split::piece_budget(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::encoding::write::Write;

    fn payload(fields: &[u64]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for field in fields {
            bytes.write_var(*field);
        }
        bytes
    }

    #[test]
    fn the_limits_message_is_read_and_extra_fields_are_ignored() {
        let defaults = Limits {
            max_message_size: 4 << 20,
            max_document_size: 64 << 20,
        };
        assert_eq!(
            Limits::parse(&payload(&[4 << 20, 64 << 20])),
            Some(defaults)
        );
        assert_eq!(
            Limits::parse(&payload(&[4 << 20, 64 << 20, 7, 1 << 40])),
            Some(defaults)
        );
        assert_eq!(
            Limits::parse(&payload(&[0, 0])),
            Some(Limits {
                max_message_size: 0,
                max_document_size: 0
            })
        );
        assert_eq!(Limits::parse(&payload(&[4 << 20])), None);
        assert_eq!(Limits::parse(&[]), None);
        // A varUint that never ends.
        assert_eq!(Limits::parse(&[0x80, 0x80]), None);
    }

    #[test]
    fn the_budget_follows_the_servers_limit_and_is_cautious_before_hearing_it() {
        let limits = |max_message_size| Limits {
            max_message_size,
            max_document_size: 0,
        };
        let overhead = collab_core::wire::SYNC_MESSAGE_OVERHEAD;
        assert_eq!(piece_budget(None), (1 << 20) - overhead);
        assert_eq!(piece_budget(Some(&limits(4 << 20))), (4 << 20) - overhead);
        assert_eq!(piece_budget(Some(&limits(0))), usize::MAX);
        // Whatever the budget, a message of one piece fits the limit it came from.
        for max in [2048u64, 1 << 20, 4 << 20, 100 << 20] {
            let budget = piece_budget(Some(&limits(max)));
            assert!(budget + overhead <= max as usize, "{max}");
        }
    }

    #[test]
    fn the_document_limit_is_said_in_rounded_megabytes() {
        let words = |max_document_size| {
            Limits {
                max_message_size: 0,
                max_document_size,
            }
            .document_limit_words()
        };
        assert_eq!(words(64 << 20).as_deref(), Some("64 MB"));
        assert_eq!(words(2_097_152).as_deref(), Some("2 MB"));
        assert_eq!(words(2_500_000).as_deref(), Some("2 MB"));
        assert_eq!(words(2_700_000).as_deref(), Some("3 MB"));
        assert_eq!(words(512 * 1024).as_deref(), Some("512 KB"));
        assert_eq!(words(0), None);
    }
}
