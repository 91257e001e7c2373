//! Turns a queued [`Mail`] into the bytes on the wire: multipart/related of (text + HTML
//! alternative, the inline logo, the photos). Each photo is an inline part with its own
//! Content-ID (the HTML shows it in the body, `cid:photo-N@cosmos`) *and* a file name, so
//! mail programs also list it as an attachment to save: the guest's photos travel once,
//! not twice (an email-size JPEG is ~1 MB and relays cap message sizes). The Message-ID and
//! Date come from the row, so every attempt sends the same message.

use std::path::PathBuf;

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::templates::{LOGO_CID, Logo, photo_cid};
use crate::store::Mail;

/// Why a message could not be built; none of these gets better by waiting.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The guest's address is not one lettre can put on an envelope.
    #[error("the recipient address is not usable: {0}")]
    Address(String),
    /// A photo's email-size file is gone from the box (disk trouble, manual deletion).
    #[error("attachment {path} is unreadable: {error}")]
    Attachment { path: PathBuf, error: String },
    #[error("the message could not be built: {0}")]
    Mime(String),
}

/// One file to attach.
pub struct Part {
    pub filename: String,
    pub path: PathBuf,
}

/// Builds the envelope and the formatted message.
pub fn build(
    mail: &Mail,
    from: &Mailbox,
    logo: &Logo,
    parts: &[Part],
) -> Result<(Envelope, Vec<u8>), BuildError> {
    let to: Mailbox = mail
        .recipient
        .parse::<lettre::Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| BuildError::Address(e.to_string()))?;
    let logo_type =
        ContentType::parse(logo.content_type).map_err(|e| BuildError::Mime(e.to_string()))?;
    let mut related = MultiPart::related()
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .singlepart(
            Attachment::new_inline(LOGO_CID.to_string()).body(logo.bytes.clone(), logo_type),
        );
    for (i, p) in parts.iter().enumerate() {
        let bytes = std::fs::read(&p.path).map_err(|e| BuildError::Attachment {
            path: p.path.clone(),
            error: e.to_string(),
        })?;
        related = related.singlepart(
            Attachment::new_inline_with_name(photo_cid(i), p.filename.clone())
                .body(bytes, ContentType::parse("image/jpeg").expect("static")),
        );
    }
    let msg = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .date(mail.created_at.into())
        .header(AutoSubmitted)
        .multipart(related)
        .map_err(|e| BuildError::Mime(e.to_string()))?;
    Ok((msg.envelope().clone(), msg.formatted()))
}

/// `Auto-Submitted: auto-generated` (RFC 3834): auto-responders should not answer.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// Builds a technician alert (plain text, no attachments) from its row.
pub fn build_technician(
    mail: &crate::store::TechMail,
    from: &Mailbox,
) -> Result<(Envelope, Vec<u8>), BuildError> {
    let to: Mailbox = mail
        .recipient
        .parse::<lettre::Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| BuildError::Address(e.to_string()))?;
    let msg = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .date(mail.created_at.into())
        .header(AutoSubmitted)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| BuildError::Mime(e.to_string()))?;
    Ok((msg.envelope().clone(), msg.formatted()))
}
