//! `[mail]`: who the guests' mail comes from, how it leaves the box (an SMTP relay or
//! .eml files), the venue's templates and the retry bounds. `from` is parsed here, once,
//! into the `Mailbox` the sender writes into every message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::{
    ConfigError, Secret, bad, existing_file, hours, in_range, required, resolve, secret, secs,
};

/// `mail.tls`: how the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS (submission, port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: loopback test relays only.
    None,
}

impl MailTls {
    /// The port a relay with this protection listens on by convention.
    fn default_port(self) -> u16 {
        match self {
            MailTls::Tls => 465,
            MailTls::StartTls | MailTls::None => 587,
        }
    }
}

/// How mail leaves the box, with the settings only that way needs.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Through the venue's relay.
    Smtp(SmtpConfig),
    /// As .eml files under `data_dir/mail` (demo, tests, a box without uplink).
    File,
}

impl MailTransport {
    /// The name written in the file (`mail.transport`), for logs and the health report.
    pub fn name(&self) -> &'static str {
        match self {
            MailTransport::Smtp(_) => "smtp",
            MailTransport::File => "file",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// `Name <address>` the guests see as the sender.
    pub from: Mailbox,
    /// The venue's edited templates; `None` = the defaults built into the binary.
    pub templates_dir: Option<PathBuf>,
    /// First wait after a temporary failure; doubles per attempt (with jitter).
    pub retry_initial: Duration,
    /// Cap of that wait, so a message is retried at least this often.
    pub retry_max: Duration,
    /// After this long in the queue a message stops being retried and is marked failed.
    pub queue_lifetime: Duration,
    /// Messages sent over one SMTP connection before it is closed.
    pub batch_size: u32,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    /// Login, given together with the password or not at all.
    pub credentials: Option<(String, Secret)>,
    /// Bound on every SMTP stage (connect, TLS, each command, the data transfer).
    pub timeout: Duration,
    /// An extra trusted root (PEM) for a relay with a private CA; the system's roots
    /// are trusted as well.
    pub ca_file: Option<PathBuf>,
}

/// `mail.transport` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TransportKind {
    Smtp,
    File,
}

/// `[mail]` as written. The SMTP keys stay optional here so that giving one with
/// `transport = "file"` is reported instead of ignored; their defaults are in [`smtp`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMail {
    transport: Option<TransportKind>,
    from: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<MailTls>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u32>,
    templates_dir: Option<PathBuf>,
    retry_initial_seconds: u32,
    retry_max_seconds: u32,
    queue_lifetime_hours: u32,
    batch_size: u32,
}

impl Default for RawMail {
    fn default() -> Self {
        RawMail {
            transport: None,
            from: None,
            smtp_host: None,
            smtp_port: None,
            tls: None,
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            timeout_seconds: None,
            templates_dir: None,
            retry_initial_seconds: 30,
            retry_max_seconds: 1800,
            queue_lifetime_hours: 168,
            batch_size: 50,
        }
    }
}

/// `mail.timeout_seconds` when absent.
const DEFAULT_SMTP_TIMEOUT_SECONDS: u32 = 30;

pub(super) fn mail(r: RawMail, base: &Path) -> Result<MailConfig, ConfigError> {
    let kind = required(r.transport, "mail.transport")?;
    let from = from(&required(r.from, "mail.from")?)?;
    let smtp_keys = SmtpKeys {
        host: r.smtp_host,
        port: r.smtp_port,
        tls: r.tls,
        username: r.username,
        password: r.password,
        password_file: r.password_file,
        ca_file: r.ca_file,
        timeout_seconds: r.timeout_seconds,
    };
    let transport = match kind {
        TransportKind::Smtp => MailTransport::Smtp(smtp(smtp_keys, base)?),
        TransportKind::File => {
            if let Some(key) = smtp_keys.first_given() {
                return Err(bad(key, "only applies to `transport = \"smtp\"`"));
            }
            MailTransport::File
        }
    };
    let templates_dir = match r.templates_dir {
        None => None,
        Some(d) => {
            let path = resolve(base, d);
            if !path.is_dir() {
                return Err(bad(
                    "mail.templates_dir",
                    format!("{} is not a folder", path.display()),
                ));
            }
            Some(path)
        }
    };
    let retry_initial = secs(
        r.retry_initial_seconds,
        "mail.retry_initial_seconds",
        1..=86_400,
    )?;
    let retry_max = secs(r.retry_max_seconds, "mail.retry_max_seconds", 1..=86_400)?;
    if retry_max < retry_initial {
        return Err(bad(
            "mail.retry_max_seconds",
            format!(
                "must not be less than mail.retry_initial_seconds ({})",
                r.retry_initial_seconds
            ),
        ));
    }
    Ok(MailConfig {
        transport,
        from,
        templates_dir,
        retry_initial,
        retry_max,
        queue_lifetime: hours(
            r.queue_lifetime_hours,
            "mail.queue_lifetime_hours",
            1..=24 * 90,
        )?,
        batch_size: in_range(r.batch_size, "mail.batch_size", 1..=1000)?,
    })
}

/// `mail.from`: a mailbox lettre accepts (`Name <addr>` or a bare address) whose address
/// is one a relay will deliver from (a dotted domain, as for guests' addresses).
fn from(text: &str) -> Result<Mailbox, ConfigError> {
    let refuse = || {
        bad(
            "mail.from",
            format!("`{text}` is not an address like `COSMOS <cosmos@example.com>`"),
        )
    };
    let mailbox: Mailbox = text.parse().map_err(|_| refuse())?;
    if !crate::show::is_valid_email(mailbox.email.as_ref()) {
        return Err(refuse());
    }
    Ok(mailbox)
}

/// The keys that only mean something for `transport = "smtp"`.
struct SmtpKeys {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<MailTls>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u32>,
}

impl SmtpKeys {
    /// The first of them that was written, by its full key.
    fn first_given(&self) -> Option<&'static str> {
        [
            (self.host.is_some(), "mail.smtp_host"),
            (self.port.is_some(), "mail.smtp_port"),
            (self.tls.is_some(), "mail.tls"),
            (self.username.is_some(), "mail.username"),
            (self.password.is_some(), "mail.password"),
            (self.password_file.is_some(), "mail.password_file"),
            (self.ca_file.is_some(), "mail.ca_file"),
            (self.timeout_seconds.is_some(), "mail.timeout_seconds"),
        ]
        .into_iter()
        .find_map(|(given, key)| given.then_some(key))
    }
}

fn smtp(k: SmtpKeys, base: &Path) -> Result<SmtpConfig, ConfigError> {
    let host = required(k.host, "mail.smtp_host")?;
    if host.trim().is_empty() {
        return Err(bad("mail.smtp_host", "must not be empty"));
    }
    let tls = k.tls.unwrap_or(MailTls::StartTls);
    let port = k.port.unwrap_or(tls.default_port());
    if port == 0 {
        return Err(bad("mail.smtp_port", "must not be 0"));
    }
    let password = secret(base, "mail.password", k.password, k.password_file)?;
    let credentials = match (k.username, password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => {
            return Err(bad(
                "mail.username",
                "give both `username` and `password_file`, or neither",
            ));
        }
    };
    let ca_file = match k.ca_file {
        None => None,
        Some(f) => Some(existing_file(base, "mail.ca_file", f)?),
    };
    Ok(SmtpConfig {
        host,
        port,
        tls,
        credentials,
        timeout: secs(
            k.timeout_seconds.unwrap_or(DEFAULT_SMTP_TIMEOUT_SECONDS),
            "mail.timeout_seconds",
            1..=600,
        )?,
        ca_file,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};
    use super::*;

    /// MINIMAL with `[mail]`'s body replaced.
    fn mail(body: &str) -> String {
        MINIMAL.replace(
            "[mail]\ntransport = \"file\"\nfrom = \"COSMOS <cosmos@example.com>\"",
            &format!("[mail]\n{body}"),
        )
    }

    const SMTP: &str =
        "transport = \"smtp\"\nfrom = \"a@example.com\"\nsmtp_host = \"relay.example.com\"";

    #[test]
    fn from_is_parsed_once_into_a_mailbox() {
        let m = parse(MINIMAL).unwrap().mail;
        assert_eq!(m.from.name.as_deref(), Some("COSMOS"));
        assert_eq!(m.from.email.to_string(), "cosmos@example.com");
        let bare = parse(&mail("transport = \"file\"\nfrom = \"cosmos@example.com\""))
            .unwrap()
            .mail;
        assert_eq!(bare.from.name, None);
        for bad in [
            "COSMOS <cosmos@example.com",
            "COSMOS",
            "cosmos@localhost",
            "",
        ] {
            assert_refused(
                &mail(&format!("transport = \"file\"\nfrom = \"{bad}\"")),
                "mail.from",
            );
        }
        assert_refused(&mail("transport = \"file\""), "mail.from");
    }

    #[test]
    fn smtp_takes_its_defaults_and_file_refuses_smtp_keys() {
        let m = parse(&mail(SMTP)).unwrap().mail;
        let MailTransport::Smtp(s) = &m.transport else {
            panic!("smtp expected: {m:?}");
        };
        assert_eq!((s.port, s.tls), (587, MailTls::StartTls));
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert!(s.credentials.is_none());
        assert_eq!(m.transport.name(), "smtp");
        let m = parse(&mail(&format!("{SMTP}\ntls = \"tls\"")))
            .unwrap()
            .mail;
        let MailTransport::Smtp(s) = &m.transport else {
            panic!("smtp expected");
        };
        assert_eq!(s.port, 465);
        let m = parse(&mail(&format!(
            "{SMTP}\nusername = \"u\"\npassword = \"p\""
        )))
        .unwrap()
        .mail;
        let MailTransport::Smtp(s) = &m.transport else {
            panic!("smtp expected");
        };
        let (user, password) = s.credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("u", "p"));

        for line in [
            "smtp_host = \"x.example.com\"",
            "smtp_port = 25",
            "tls = \"none\"",
            "username = \"u\"",
            "password = \"p\"",
            "ca_file = \"ca.pem\"",
            "timeout_seconds = 5",
        ] {
            let key = format!("mail.{}", line.split(' ').next().unwrap());
            assert_refused(
                &mail(&format!(
                    "transport = \"file\"\nfrom = \"a@example.com\"\n{line}"
                )),
                &key,
            );
        }
    }

    #[test]
    fn mail_keys_are_checked_by_name() {
        for (body, key) in [
            ("from = \"a@example.com\"".to_string(), "mail.transport"),
            (
                "transport = \"pigeon\"\nfrom = \"a@example.com\"".into(),
                "mail.transport",
            ),
            (
                "transport = \"smtp\"\nfrom = \"a@example.com\"".into(),
                "mail.smtp_host",
            ),
            (
                "transport = \"smtp\"\nfrom = \"a@example.com\"\nsmtp_host = \" \"".into(),
                "mail.smtp_host",
            ),
            (format!("{SMTP}\ntls = \"ssl\""), "mail.tls"),
            (format!("{SMTP}\nsmtp_port = 0"), "mail.smtp_port"),
            (format!("{SMTP}\nsmtp_port = 70000"), "mail.smtp_port"),
            (format!("{SMTP}\nusername = \"u\""), "mail.username"),
            (format!("{SMTP}\npassword = \"p\""), "mail.username"),
            (
                format!("{SMTP}\npassword = \"p\"\npassword_file = \"f\""),
                "mail.password",
            ),
            (
                format!("{SMTP}\nca_file = \"/nonexistent.pem\""),
                "mail.ca_file",
            ),
            (
                format!("{SMTP}\ntimeout_seconds = 0"),
                "mail.timeout_seconds",
            ),
            (
                format!("{SMTP}\ntemplates_dir = \"/nonexistent\""),
                "mail.templates_dir",
            ),
            (
                format!("{SMTP}\nretry_initial_seconds = 0"),
                "mail.retry_initial_seconds",
            ),
            (
                format!("{SMTP}\nretry_initial_seconds = 60\nretry_max_seconds = 30"),
                "mail.retry_max_seconds",
            ),
            (
                format!("{SMTP}\nqueue_lifetime_hours = 2161"),
                "mail.queue_lifetime_hours",
            ),
            (format!("{SMTP}\nbatch_size = 0"), "mail.batch_size"),
        ] {
            assert_refused(&mail(&body), key);
        }
    }
}
