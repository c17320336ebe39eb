//! Replay tokens: a schedule with what it was made for, versioned and checksummed.
//!
//! Text form: `bp` followed by the unpadded URL-safe base64 of these bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version ([`Token::VERSION`]) |
//! | 8 | hash of the model's input (for biopin: XXH3-64 of the scenario file's bytes), LE |
//! | 4 | version of the model's step table, LE |
//! | varint + UTF-8 | the model's configuration (for biopin: the canonical design) |
//! | varint + varints | the schedule: one encoded action per step |
//! | 4 | low 32 bits of XXH3-64 of all the bytes before, LE |
//!
//! Varints are LEB128 (7 bits a byte, low first). Every version ever written stays decodable:
//! a new layout gets a new version byte and its own branch in [`Token::decode`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use thiserror::Error;
use xxhash_rust::xxh3::xxh3_64;

/// A replayable schedule and what it was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Hash of the model's input text.
    pub input_hash: u64,
    /// Version of the model's step table when the token was made.
    pub step_table: u32,
    /// The model's configuration, as text.
    pub config: String,
    /// One encoded action per step.
    pub schedule: Vec<u32>,
}

/// Why a token could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// It does not start with `bp`.
    #[error("not a biopin replay token: it should start with `bp` (copy it whole from the report)")]
    Prefix,
    /// The text after `bp` is not unpadded URL-safe base64.
    #[error("the token is not valid base64 after `bp`: was it cut or wrapped when copied?")]
    Base64,
    /// The checksum does not match: the token was altered.
    #[error("the token's checksum does not match: it was altered or cut when copied")]
    Checksum,
    /// Made by a newer biopin.
    #[error(
        "token format version {0} is newer than this biopin reads (1): use the biopin that made it"
    )]
    Version(u8),
    /// The bytes end early or hold an impossible value.
    #[error("the token is malformed ({0}) although its checksum matches")]
    Malformed(&'static str),
}

impl Token {
    /// The format version written by [`Token::encode`].
    pub const VERSION: u8 = 1;

    /// The token's text form.
    pub fn encode(&self) -> String {
        let mut bytes = vec![Self::VERSION];
        bytes.extend_from_slice(&self.input_hash.to_le_bytes());
        bytes.extend_from_slice(&self.step_table.to_le_bytes());
        put_varint(&mut bytes, self.config.len() as u64);
        bytes.extend_from_slice(self.config.as_bytes());
        put_varint(&mut bytes, self.schedule.len() as u64);
        for &action in &self.schedule {
            put_varint(&mut bytes, u64::from(action));
        }
        let sum = xxh3_64(&bytes) as u32;
        bytes.extend_from_slice(&sum.to_le_bytes());
        format!("bp{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a token from its text form (surrounding white space is ignored).
    pub fn decode(text: &str) -> Result<Token, TokenError> {
        let body = text.trim().strip_prefix("bp").ok_or(TokenError::Prefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Base64)?;
        if bytes.len() < 5 {
            return Err(TokenError::Checksum);
        }
        let (data, sum) = bytes.split_at(bytes.len() - 4);
        if xxh3_64(data) as u32 != u32::from_le_bytes(sum.try_into().expect("4 bytes")) {
            return Err(TokenError::Checksum);
        }
        let mut r = Reader { bytes: data };
        match r.u8()? {
            1 => Self::decode_v1(r),
            v => Err(TokenError::Version(v)),
        }
    }

    fn decode_v1(mut r: Reader<'_>) -> Result<Token, TokenError> {
        let input_hash = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let step_table = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
        let len = usize::try_from(r.varint()?).map_err(|_| TokenError::Malformed("length"))?;
        let config = std::str::from_utf8(r.take(len)?)
            .map_err(|_| TokenError::Malformed("configuration is not UTF-8"))?
            .to_owned();
        let steps = r.varint()?;
        if steps > r.bytes.len() as u64 {
            return Err(TokenError::Malformed("schedule longer than the token"));
        }
        let mut schedule = Vec::with_capacity(steps as usize);
        for _ in 0..steps {
            let action = u32::try_from(r.varint()?).map_err(|_| TokenError::Malformed("action"))?;
            schedule.push(action);
        }
        if !r.bytes.is_empty() {
            return Err(TokenError::Malformed("trailing bytes"));
        }
        Ok(Token {
            input_hash,
            step_table,
            config,
            schedule,
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TokenError> {
        if self.bytes.len() < n {
            return Err(TokenError::Malformed("ends early"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, TokenError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, TokenError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TokenError::Malformed("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Token {
        Token {
            input_hash: 0x0123_4567_89ab_cdef,
            step_table: 1,
            config: "linux-6.5+cow=refcount".into(),
            schedule: vec![0, 0, 3, 1, 200, 70000],
        }
    }

    #[test]
    fn round_trip() {
        let t = sample();
        assert_eq!(Token::decode(&t.encode()), Ok(t));
    }

    #[test]
    fn every_altered_character_is_caught() {
        let text = sample().encode();
        for i in 2..text.len() {
            let mut chars: Vec<char> = text.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let altered: String = chars.into_iter().collect();
            assert!(
                Token::decode(&altered).is_err(),
                "altered at {i} still decodes"
            );
        }
    }

    #[test]
    fn cut_tokens_and_strangers_are_refused() {
        let text = sample().encode();
        assert_eq!(
            Token::decode(&text[..text.len() - 3]).unwrap_err(),
            TokenError::Checksum
        );
        assert_eq!(Token::decode("hello").unwrap_err(), TokenError::Prefix);
        assert_eq!(Token::decode("bp!!!").unwrap_err(), TokenError::Base64);
        assert_eq!(Token::decode("bp").unwrap_err(), TokenError::Checksum);
    }

    #[test]
    fn newer_versions_are_named() {
        let mut bytes = vec![9u8, 1, 2, 3];
        let sum = xxh3_64(&bytes) as u32;
        bytes.extend_from_slice(&sum.to_le_bytes());
        let text = format!("bp{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(Token::decode(&text).unwrap_err(), TokenError::Version(9));
    }

    proptest! {
        #[test]
        fn any_token_round_trips(
            input_hash: u64,
            step_table: u32,
            config in "[a-z0-9.+=_-]{0,40}",
            schedule in proptest::collection::vec(any::<u32>(), 0..200),
        ) {
            let t = Token { input_hash, step_table, config, schedule };
            prop_assert_eq!(Token::decode(&t.encode()), Ok(t));
        }
    }
}
