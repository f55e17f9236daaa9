//! The 10,000 most common passwords (SecLists, MIT; see `common_passwords.NOTICE`), embedded
//! gzip-compressed (30 KB) and unpacked once, on first use, into one sorted buffer.

use std::io::Read;
use std::sync::OnceLock;

const LIST_GZ: &[u8] = include_bytes!("common_passwords.txt.gz");

struct List {
    text: String,
    /// (start, end) of each lowercased entry in `text`, sorted by entry.
    spans: Vec<(u32, u32)>,
}

fn list() -> &'static List {
    static LIST: OnceLock<List> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(LIST_GZ)
            .read_to_string(&mut text)
            .expect("the embedded password list is valid gzip");
        text.make_ascii_lowercase();
        let mut spans = Vec::with_capacity(10_000);
        let mut start = 0;
        for line in text.split('\n') {
            let end = start + line.len();
            if !line.is_empty() {
                spans.push((start as u32, end as u32));
            }
            start = end + 1;
        }
        spans.sort_by(|a, b| {
            text[a.0 as usize..a.1 as usize].cmp(&text[b.0 as usize..b.1 as usize])
        });
        List { text, spans }
    })
}

/// Whether the password, ignoring case, is on the list.
pub fn is_common(password: &str) -> bool {
    let candidate = password.to_lowercase();
    let list = list();
    list.spans
        .binary_search_by(|&(start, end)| {
            list.text[start as usize..end as usize].cmp(candidate.as_str())
        })
        .is_ok()
}

pub fn len() -> usize {
    list().spans.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_ten_thousand_entries() {
        assert_eq!(len(), 10_000);
    }

    #[test]
    fn common_passwords_are_found_in_any_case() {
        for common in [
            "password",
            "PassWord",
            "12345678",
            "iloveyou",
            "qwertyuiop",
            "trustno1",
        ] {
            assert!(is_common(common), "{common}");
        }
        for rare in ["correct horse battery", "zq8#Lw!pT4", ""] {
            assert!(!is_common(rare), "{rare}");
        }
    }
}
