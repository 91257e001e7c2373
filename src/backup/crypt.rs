//! Encrypted sets (`[backup] encrypt_to`): every file of the set is written as
//! `<name>.age`, sealed to the technician's age X25519 recipients, so the box (which holds
//! no identity) cannot read its own old backups and neither can whoever finds the drive.
//!
//! An encrypted set is a plain set with each file sealed:
//! - `MANIFEST.sha256.age` is the plain set's manifest (the plaintext checksums), sealed;
//! - `ENCRYPTED` (in the clear) lists the recipients and says how to open the set;
//! - `MANIFEST.sha256` (in the clear) lists the sealed files' checksums, so a set is
//!   verified — after writing, after an rsync, before a restore — without the identity.
//!
//! [`open`] turns it back into the plain set (checked against the inner manifest), which
//! the ordinary restore then takes. Each `.age` file is also readable with the `age` tool:
//! `age -d -i KEYFILE cosmos.db.age > cosmos.db`.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::{MANIFEST, sync_dir};

/// The clear-text marker of an encrypted set.
pub const MARKER: &str = "ENCRYPTED";
/// What each sealed file's name ends with.
pub const SUFFIX: &str = ".age";

/// The recipients a set is sealed to, parsed from the config's `backup.encrypt_to`.
pub struct Sealer {
    recipients: Vec<age::x25519::Recipient>,
    /// The plain set's manifest lines (`<sha256>  <name>`), in the order written.
    manifest: Vec<String>,
}

impl Sealer {
    pub fn new(keys: &[String]) -> anyhow::Result<Sealer> {
        let recipients = keys
            .iter()
            .map(|k| {
                k.parse::<age::x25519::Recipient>()
                    .map_err(|e| anyhow::anyhow!("backup.encrypt_to: {k}: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if recipients.is_empty() {
            bail!("backup.encrypt_to is empty");
        }
        Ok(Sealer {
            recipients,
            manifest: Vec::new(),
        })
    }

    /// Seals `src` into `root/<name>.age`, remembering its plaintext checksum as `name`.
    pub fn put(&mut self, src: &Path, root: &Path, name: &str) -> anyhow::Result<()> {
        let input = File::open(src).with_context(|| format!("reading {}", src.display()))?;
        self.seal(input, root, name)
            .with_context(|| format!("encrypting {}", src.display()))
    }

    /// Seals `bytes` into `root/<name>.age`.
    pub fn put_bytes(&mut self, bytes: &[u8], root: &Path, name: &str) -> anyhow::Result<()> {
        self.seal(bytes, root, name)
            .with_context(|| format!("encrypting {name}"))
    }

    fn seal(&mut self, mut input: impl Read, root: &Path, name: &str) -> anyhow::Result<()> {
        let dst = root.join(format!("{name}{SUFFIX}"));
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p)?;
        }
        let out = BufWriter::new(File::create(&dst)?);
        let enc = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| r as &dyn age::Recipient),
        )?;
        let mut w = enc.wrap_output(out)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            w.write_all(&buf[..n])?;
        }
        let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        self.manifest
            .push(format!("{}  {name}", hex::encode(h.finalize())));
        Ok(())
    }

    /// Seals the plain manifest and writes the clear marker; the caller then writes the
    /// outer manifest over the sealed files.
    pub fn finish(mut self, root: &Path) -> anyhow::Result<()> {
        self.manifest.sort_by(|a, b| a[66..].cmp(&b[66..]));
        let text = self.manifest.join("\n") + "\n";
        self.put_bytes(text.as_bytes(), root, MANIFEST)?;
        let mut marker = String::from(
            "This backup set is encrypted with age (https://age-encryption.org) to:\n",
        );
        for r in &self.recipients {
            marker.push_str(&format!("  {r}\n"));
        }
        marker.push_str(
            "Restore it with: cosmosd restore --identity KEYFILE SET\n\
             One file by hand: age -d -i KEYFILE cosmos.db.age > cosmos.db\n",
        );
        let mut f = File::create(root.join(MARKER))?;
        f.write_all(marker.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }
}

/// Whether the set in `dir` is encrypted.
pub fn is_sealed(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// Reads the age identities in `path` (an `age-keygen` key file).
pub fn identities(path: &Path) -> anyhow::Result<Identities> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .with_context(|| format!("reading the age identity {}", path.display()))?;
    let ids = file
        .into_identities()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if ids.is_empty() {
        bail!("{}: holds no age identity", path.display());
    }
    Ok(ids)
}

/// The identities, as `age` wants them.
pub type Identities = Vec<Box<dyn age::Identity>>;

/// Decrypts every sealed file of the (already verified) set `src` into `out`, which then
/// holds the plain set with its own manifest. The caller verifies `out`.
pub fn open(src: &Path, ids: &Identities, out: &Path) -> anyhow::Result<()> {
    let outer = fs::read_to_string(src.join(MANIFEST))
        .with_context(|| format!("reading {}", src.join(MANIFEST).display()))?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for line in outer.lines() {
        // verify() has checked each line's form and that no name leaves the set.
        let Some((_, name)) = line.split_once("  ") else {
            continue;
        };
        let Some(plain) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        let to = out.join(plain);
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        let mut w = BufWriter::new(File::create(&to)?);
        decrypt(src, name, ids, &mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    sync_dir(out)?;
    Ok(())
}

/// The plaintext of one file of a sealed set (`name` without `.age`), in memory.
pub fn read_one(src: &Path, name: &str, ids: &Identities) -> anyhow::Result<Vec<u8>> {
    let mut v = Vec::new();
    decrypt(src, &format!("{name}{SUFFIX}"), ids, &mut v)?;
    Ok(v)
}

fn decrypt(src: &Path, name: &str, ids: &Identities, w: &mut impl Write) -> anyhow::Result<()> {
    let from = src.join(name);
    let input =
        BufReader::new(File::open(&from).with_context(|| format!("reading {}", from.display()))?);
    let dec = age::Decryptor::new_buffered(input)
        .with_context(|| format!("{}: not an age file", from.display()))?;
    let mut r = match dec.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => bail!(
            "the identity cannot open this backup: it was encrypted to other keys (see {})",
            src.join(MARKER).display()
        ),
        Err(e) => bail!("{}: {e}", from.display()),
    };
    io::copy(&mut r, w).with_context(|| format!("decrypting {}", from.display()))?;
    Ok(())
}
