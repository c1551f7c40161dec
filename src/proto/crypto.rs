//! Key derivation, auth keys and the AES-128-CFB stream cipher (spec §5.1, §5.3, §6, §8.2).
//!
//! frp (via golib) uses AES-128 in CFB mode with full 128-bit feedback (Go's
//! `cipher.NewCFBEncrypter`), keyed with PBKDF2-HMAC-SHA1(password, "frp", 64 iterations,
//! 16 bytes). The cipher is a stream: a partial block at the end of one call continues the
//! keystream in the next call.
//!
//! The encryptor is inherently sequential (every block needs the previous ciphertext block),
//! the decryptor is not: all keystream blocks of a buffer are computed from ciphertext that is
//! already known, so it runs eight AES blocks at a time (AES-NI pipelining).

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// PBKDF2 salt frp sets in `init()` of both client and server (golib's default is "crypto").
pub const SALT: &[u8] = b"frp";
/// PBKDF2 iteration count used by golib's crypto package.
pub const PBKDF2_ITERATIONS: u32 = 64;
/// AES block size (and IV length) in bytes.
pub const BLOCK: usize = 16;

/// Blocks processed per batch by the decryptor.
const PAR: usize = 8;

type AesBlock = GenericArray<u8, aes::cipher::consts::U16>;

/// Derives the AES-128 key: PBKDF2-HMAC-SHA1(password, salt "frp", 64 iterations, 16 bytes).
pub fn derive_key(password: &[u8]) -> [u8; 16] {
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, SALT, PBKDF2_ITERATIONS, &mut key);
    key
}

/// The frp auth key: lowercase hex of MD5(secret ‖ decimal timestamp) (§5.1 privilege_key,
/// §5.3 sign_key).
pub fn auth_key(secret: &str, timestamp: i64) -> String {
    let mut h = Md5::new();
    h.update(secret.as_bytes());
    h.update(timestamp.to_string().as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks a received auth key against `auth_key(secret, timestamp)` in constant time.
pub fn auth_key_matches(secret: &str, timestamp: i64, got: &str) -> bool {
    let want = auth_key(secret, timestamp);
    // `ct_eq` on slices of different lengths is false (the length is not secret).
    ct_eq(want.as_bytes(), got.as_bytes())
}

/// Constant-time equality for secrets (tokens, passwords, group keys); different lengths are
/// unequal at once (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// The CFB shift register shared by both directions.
///
/// Invariant: if `pos == 16`, `reg` holds the last ciphertext block (or the IV) whose
/// encryption — the next keystream block — has not been computed yet. If `pos < 16`,
/// `reg[..pos]` are the ciphertext bytes of the current block produced so far and `reg[pos..]`
/// the keystream bytes not used yet.
struct Register {
    cipher: Aes128,
    reg: AesBlock,
    pos: usize,
}

impl Register {
    fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        Register {
            cipher: Aes128::new(GenericArray::from_slice(key)),
            reg: *GenericArray::from_slice(iv),
            pos: BLOCK,
        }
    }

    /// Processes bytes of a partial block (`data.len() < 16` when `pos == 16`, or at most
    /// `16 - pos` bytes otherwise); returns how many bytes were consumed.
    #[inline]
    fn partial(&mut self, data: &mut [u8], encrypt: bool) -> usize {
        if self.pos == BLOCK {
            self.cipher.encrypt_block(&mut self.reg);
            self.pos = 0;
        }
        let n = data.len().min(BLOCK - self.pos);
        for (d, r) in data[..n]
            .iter_mut()
            .zip(&mut self.reg[self.pos..self.pos + n])
        {
            let x = *d;
            *d ^= *r;
            *r = if encrypt { *d } else { x };
        }
        self.pos += n;
        n
    }
}

#[inline]
fn load(b: &[u8]) -> u128 {
    u128::from_ne_bytes(b.try_into().expect("16-byte block"))
}

/// Streaming AES-128-CFB (128-bit feedback) encryptor.
pub struct CfbEncryptor(Register);

impl CfbEncryptor {
    /// Creates an encryptor for `key` starting from `iv`.
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CfbEncryptor(Register::new(key, iv))
    }

    /// Encrypts `data` in place, continuing the keystream of previous calls.
    pub fn apply(&mut self, data: &mut [u8]) {
        let r = &mut self.0;
        let mut data = data;
        if r.pos < BLOCK {
            let n = r.partial(data, true);
            data = &mut data[n..];
        }
        // Whole blocks: C_i = P_i ^ E(C_{i-1}), strictly sequential.
        let mut chunks = data.chunks_exact_mut(BLOCK);
        for chunk in &mut chunks {
            r.cipher.encrypt_block(&mut r.reg);
            let c = (load(chunk) ^ load(&r.reg)).to_ne_bytes();
            chunk.copy_from_slice(&c);
            r.reg = c.into();
        }
        let rem = chunks.into_remainder();
        if !rem.is_empty() {
            r.partial(rem, true);
        }
    }
}

/// Streaming AES-128-CFB (128-bit feedback) decryptor.
///
/// Whole blocks are decrypted [`PAR`] at a time: their keystream only depends on ciphertext
/// that is already known.
pub struct CfbDecryptor(Register);

impl CfbDecryptor {
    /// Creates a decryptor for `key` starting from `iv`.
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CfbDecryptor(Register::new(key, iv))
    }

    /// Decrypts `data` in place, continuing the keystream of previous calls.
    pub fn apply(&mut self, data: &mut [u8]) {
        let r = &mut self.0;
        let mut data = data;
        if r.pos < BLOCK {
            let n = r.partial(data, false);
            data = &mut data[n..];
            if r.pos < BLOCK {
                return;
            }
        }
        // Here `reg` is the pending previous ciphertext block (C_{-1}).
        let full = data.len() / BLOCK * BLOCK;
        let (mut blocks, rem) = data.split_at_mut(full);
        let mut batch = [AesBlock::default(); PAR];
        while !blocks.is_empty() {
            let k = (blocks.len() / BLOCK).min(PAR);
            let (cur, rest) = blocks.split_at_mut(k * BLOCK);
            // Keystream of block j is E(C_{j-1}); C_{-1} is `reg`, C_{k-1} feeds the next batch.
            batch[0] = r.reg;
            for j in 1..k {
                batch[j].copy_from_slice(&cur[(j - 1) * BLOCK..j * BLOCK]);
            }
            r.reg.copy_from_slice(&cur[(k - 1) * BLOCK..]);
            r.cipher.encrypt_blocks(&mut batch[..k]);
            for (chunk, ks) in cur.chunks_exact_mut(BLOCK).zip(&batch[..k]) {
                chunk.copy_from_slice(&(load(chunk) ^ load(ks)).to_ne_bytes());
            }
            blocks = rest;
        }
        if !rem.is_empty() {
            r.partial(rem, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfb_mode::cipher::KeyIvInit;
    use rand::{Rng, RngCore, SeedableRng};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    #[test]
    fn auth_keys_12_1() {
        assert_eq!(
            auth_key("1234", 1488720000),
            "6df41a43725f0c770fd56379e12acf8c"
        );
        assert_eq!(
            auth_key("12345678", 1700000000),
            "3d8aac6cc09d79da303be74c311e5808"
        );
        assert_eq!(auth_key("", 1700000000), "24920decf83f6960b80f737a28eeafc1");
        assert_eq!(
            auth_key("abcdefg", 1700000000),
            "9e507a77ffcf3f14de1b478e8012f4fd"
        );
        assert!(auth_key_matches(
            "12345678",
            1700000000,
            "3d8aac6cc09d79da303be74c311e5808"
        ));
        assert!(!auth_key_matches(
            "12345678",
            1700000001,
            "3d8aac6cc09d79da303be74c311e5808"
        ));
        assert!(!auth_key_matches(
            "12345678",
            1700000000,
            "3d8aac6cc09d79da303be74c311e580"
        ));
        assert!(!auth_key_matches("12345678", 1700000000, ""));
        // Negative timestamps format like Go's strconv.FormatInt.
        assert_eq!(auth_key("x", -5), {
            let mut h = Md5::new();
            h.update(b"x-5");
            hex(&h.finalize())
        });
    }

    #[test]
    fn derived_keys_12_2() {
        assert_eq!(
            hex(&derive_key(b"12345678")),
            "b7eac3f66310824c114f56f8274fdfea"
        );
        assert_eq!(hex(&derive_key(b"")), "cdc9dc4c472c37331281df4c232a8407");
        assert_eq!(
            hex(&derive_key(b"abcdefg")),
            "737f91adb7287dae741a69429eb6dbad"
        );
        // The golib default salt must not be what we use.
        let mut wrong = [0u8; 16];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"12345678", b"crypto", 64, &mut wrong);
        assert_eq!(hex(&wrong), "ce1cd5c5859636755096647ffdb94404");
        assert_ne!(wrong, derive_key(b"12345678"));
    }

    const PING: &str = "6800000000000000027b7d";
    const NEW_PROXY: &str = "70000000000000003a7b2270726f78795f6e616d65223a22737368222c2270726f78795f74797065223a22746370222c2272656d6f74655f706f7274223a363030307d";
    const PING_NEWPROXY_CT: &str = "4498a24026e4cf47613434ae3402bd6e2320ebd822dd72623dc9eba8ae3cd570ddb2d3b681743c464903e473dbda80a3738f2e094a24f30e8c9efcaaba347d2e7b694f384fbeb623d4e6baf67af8";

    #[test]
    fn encrypted_control_stream_12_5() {
        let key = derive_key(b"12345678");
        let mut enc = CfbEncryptor::new(&key, &IV);
        let mut ping = unhex(PING);
        enc.apply(&mut ping);
        assert_eq!(hex(&ping), "4498a24026e4cf47613434");
        let mut np = unhex(NEW_PROXY);
        enc.apply(&mut np);
        assert_eq!(format!("{}{}", hex(&ping), hex(&np)), PING_NEWPROXY_CT);

        // Decrypt in one call and byte by byte.
        let mut ct = unhex(PING_NEWPROXY_CT);
        CfbDecryptor::new(&key, &IV).apply(&mut ct);
        assert_eq!(hex(&ct), format!("{PING}{NEW_PROXY}"));
        let mut ct = unhex(PING_NEWPROXY_CT);
        let mut dec = CfbDecryptor::new(&key, &IV);
        for b in ct.chunks_mut(1) {
            dec.apply(b);
        }
        assert_eq!(hex(&ct), format!("{PING}{NEW_PROXY}"));

        // Work connection first write.
        let mut get = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        CfbEncryptor::new(&key, &IV).apply(&mut get);
        assert_eq!(
            format!("{}{}", hex(&IV), hex(&get)),
            "000102030405060708090a0b0c0d0e0f6bddf66009c48713371f66ef1a33b064da28"
        );
    }

    #[test]
    fn xtcp_punch_datagram_12_6() {
        let key = derive_key(b"abcdefg");
        let body = br#"{"transaction_id":"1700000000abcdef0123456789","sid":"1700000000fedcba9876543210","nonce":"000"}"#;
        let mut frame = vec![b'5'];
        frame.extend_from_slice(&(body.len() as i64).to_be_bytes());
        frame.extend_from_slice(body);
        CfbEncryptor::new(&key, &IV).apply(&mut frame);
        assert_eq!(
            format!("{}{}", hex(&IV), hex(&frame)),
            "000102030405060708090a0b0c0d0e0fa7eb685d169ff8bf85d4f1f6ea1e68753723767826fea7f6d676b67a4fe0dcffe500490b9feaf5abfa1e500634acba4fed04a8ff8ea7d495adcc234b8006c963533bb63bc36fc8e8ebbf3311752b5fac8693c202df46bdc90e71ac61c139954844e23b9a74aa803502"
        );
    }

    /// Cross-check against the cfb-mode crate with random split points in both directions.
    #[test]
    fn matches_cfb_mode_with_random_splits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..50 {
            let mut key = [0u8; 16];
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut key);
            rng.fill_bytes(&mut iv);
            let len = rng.gen_range(0..5000);
            let mut plain = vec![0u8; len];
            rng.fill_bytes(&mut plain);

            let mut reference = plain.clone();
            cfb_mode::BufEncryptor::<Aes128>::new(&key.into(), &iv.into()).encrypt(&mut reference);

            let mut ours = plain.clone();
            let mut enc = CfbEncryptor::new(&key, &iv);
            let mut off = 0;
            while off < len {
                let n = rng.gen_range(0..=(len - off).min(if round % 2 == 0 { 40 } else { 300 }));
                enc.apply(&mut ours[off..off + n]);
                off += n;
            }
            assert_eq!(ours, reference, "encrypt round {round}");

            let mut dec = CfbDecryptor::new(&key, &iv);
            let mut off = 0;
            while off < len {
                let n = rng.gen_range(0..=(len - off).min(if round % 2 == 0 { 40 } else { 300 }));
                dec.apply(&mut ours[off..off + n]);
                off += n;
            }
            assert_eq!(ours, plain, "decrypt round {round}");
        }
    }
}
