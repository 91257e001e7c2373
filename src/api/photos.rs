//! `/api/photos`: a photo's metadata and files, and the host's keep-or-discard.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::{self, PhotoKind, PhotoState};
use super::{ApiError, Call, Context, Reply};
use crate::photos::Variant;
use crate::store::Photo;

/// A photo's metadata and where its three sizes are.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoOut {
    pub id: String,
    pub show_id: String,
    pub kind: PhotoKind,
    pub state: PhotoState,
    /// The original's file name on the box.
    pub file: String,
    #[serde(serialize_with = "wire::time")]
    pub captured_at: DateTime<Utc>,
    /// Upright size of the original.
    pub width: u32,
    pub height: u32,
    /// Size of the original file.
    pub bytes: u64,
    pub preview_url: String,
    pub email_url: String,
    pub original_url: String,
}

impl From<&Photo> for PhotoOut {
    fn from(p: &Photo) -> Self {
        let base = format!("/api/photos/{}", p.id);
        PhotoOut {
            id: p.id.clone(),
            show_id: p.show_id.clone(),
            kind: p.kind.into(),
            state: p.state.into(),
            file: format!("{}.jpg", p.name),
            captured_at: p.captured_at,
            width: p.width,
            height: p.height,
            bytes: p.bytes,
            preview_url: format!("{base}/preview"),
            email_url: format!("{base}/email"),
            original_url: format!("{base}/original"),
        }
    }
}

#[utoipa::path(get, path = "/api/photos/{id}", tag = "photos", summary = "A photo's metadata",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 200, description = "the photo", body = PhotoOut),
        (status = 404, description = "no such photo", body = super::ErrorBody),
    ))]
pub fn get_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &PhotoOut::from(&ctx.store.photo(call.id())?),
    ))
}

fn photo_file(ctx: &Context, call: &Call, v: Variant) -> Result<Reply, ApiError> {
    let p = ctx.store.photo(call.id())?;
    let path = ctx.studio.files().path(&p.show_id, &p.name, v);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Reply::raw(200, "image/jpeg", bytes)),
        Err(e) => {
            log::error!(photo = p.id.as_str(); "photo file unreadable: {e}");
            Err(ApiError::new(
                404,
                "photo_file_missing",
                "the photo's file is missing on the box",
            ))
        }
    }
}

#[utoipa::path(get, path = "/api/photos/{id}/preview", tag = "photos",
    summary = "The preview size (for the host's screen)",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 200, description = "JPEG", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "no such photo, or its file is missing", body = super::ErrorBody),
    ))]
pub fn get_preview(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    photo_file(ctx, call, Variant::Preview)
}

#[utoipa::path(get, path = "/api/photos/{id}/email", tag = "photos",
    summary = "The size attached to the guests' mail",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 200, description = "JPEG", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "no such photo, or its file is missing", body = super::ErrorBody),
    ))]
pub fn get_email_size(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    photo_file(ctx, call, Variant::Email)
}

#[utoipa::path(get, path = "/api/photos/{id}/original", tag = "photos",
    summary = "The original as the camera took it (upright)",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 200, description = "JPEG", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "no such photo, or its file is missing", body = super::ErrorBody),
    ))]
pub fn get_original(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    photo_file(ctx, call, Variant::Original)
}

#[utoipa::path(post, path = "/api/photos/{id}/approve", tag = "photos", summary = "Keep a photo",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 200, description = "the photo, approved", body = PhotoOut),
        (status = 404, description = "no such photo", body = super::ErrorBody),
        (status = 409, description = "the show is past changing its photos", body = super::ErrorBody),
    ))]
pub fn approve_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &PhotoOut::from(&ctx.store.approve_photo(call.id(), call.now)?),
    ))
}

#[utoipa::path(delete, path = "/api/photos/{id}", tag = "photos", summary = "Discard a photo (its files too)",
    params(("id" = String, Path, description = "the photo's id")),
    responses(
        (status = 204, description = "discarded"),
        (status = 404, description = "no such photo", body = super::ErrorBody),
        (status = 409, description = "the show is past changing its photos", body = super::ErrorBody),
    ))]
pub fn delete_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.delete_photo(call.id())?;
    log::info!(photo = p.id.as_str(), show = p.show_id.as_str(); "photo discarded");
    Ok(Reply::no_content())
}
