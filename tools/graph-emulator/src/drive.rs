//! OneDrive drives: the item tree, `/root/delta`, item metadata and ranged content downloads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::config::{TenantConfig, UserConfig};
use crate::errors::{ControlError, GraphError};
use crate::graph::{user_drive_id, Caller};
use crate::state::{fmt_time, found, random_token, AppState, DownloadGrant, Shared, State as EmuState};

/// Lifetime of pre-authenticated download URLs.
const DOWNLOAD_URL_LIFETIME: time::Duration = time::Duration::hours(1);
/// Path of the pre-authenticated download endpoint (shaped like SharePoint's).
pub(crate) const DOWNLOAD_PATH: &str = "/_layouts/15/download.aspx";

/// A drive item (file or folder); deleted items stay as tombstones for delta.
pub(crate) struct Item {
    id: String,
    name: String,
    parent: Option<String>,
    folder: bool,
    content: Arc<[u8]>,
    mime: String,
    ctag: u64,
    etag: u64,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    /// Change sequence number of the item's last change (delta ordering).
    seq: u64,
    deleted: bool,
}

/// A OneDrive drive.
pub(crate) struct Drive {
    id: String,
    tenant_id: String,
    owner_oid: String,
    owner_name: String,
    created: OffsetDateTime,
    /// Delta token generation; bumping it invalidates every issued token (410).
    epoch: u32,
    /// Last change sequence number handed out.
    seq: u64,
    root_id: String,
    items: HashMap<String, Item>,
}

fn new_item_id() -> String {
    format!("01{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

impl Drive {
    pub(crate) fn new(id: &str, tenant: &TenantConfig, user: &UserConfig, now: OffsetDateTime) -> Self {
        let root_id = new_item_id();
        let root = Item {
            id: root_id.clone(),
            name: "root".into(),
            parent: None,
            folder: true,
            content: Arc::from(Vec::new()),
            mime: String::new(),
            ctag: 1,
            etag: 1,
            created: now,
            modified: now,
            seq: 1,
            deleted: false,
        };
        Self {
            id: id.to_string(),
            tenant_id: tenant.id.clone(),
            owner_oid: user.oid.clone(),
            owner_name: user.display_name.clone(),
            created: now,
            epoch: 1,
            seq: 1,
            items: HashMap::from([(root_id.clone(), root)]),
            root_id,
        }
    }

    /// The drive resource JSON.
    pub(crate) fn json(&self, base_url: &str) -> Value {
        let used: usize = self
            .items
            .values()
            .filter(|i| !i.deleted)
            .map(|i| i.content.len())
            .sum();
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#drives/$entity",
            "id": self.id,
            "driveType": "business",
            "name": "OneDrive",
            "createdDateTime": fmt_time(self.created),
            "lastModifiedDateTime": fmt_time(self.items[&self.root_id].modified),
            "webUrl": format!("{base_url}/personal/{}/Documents", self.owner_oid),
            "owner": { "user": { "id": self.owner_oid, "displayName": self.owner_name } },
            "quota": { "total": 1_099_511_627_776u64, "used": used, "remaining": 1_099_511_627_776u64 - used as u64, "deleted": 0, "state": "normal" },
        })
    }

    fn live(&self, id: &str) -> Option<&Item> {
        self.items.get(id).filter(|i| !i.deleted)
    }

    fn live_child(&self, parent: &str, name: &str) -> Option<&Item> {
        self.items
            .values()
            .find(|i| !i.deleted && i.parent.as_deref() == Some(parent) && i.name.eq_ignore_ascii_case(name))
    }

    /// `/A/B` for an item below the root, `""` for the root.
    fn rel_path(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.items.get(id);
        while let Some(item) = cur {
            if item.parent.is_none() {
                break;
            }
            parts.push(item.name.as_str());
            cur = item.parent.as_deref().and_then(|p| self.items.get(p));
        }
        parts.reverse();
        parts.iter().map(|p| format!("/{p}")).collect()
    }

    /// Ids from the root down to `id`'s parent.
    fn ancestors(&self, id: &str) -> Vec<String> {
        let mut chain = Vec::new();
        let mut cur = self.items.get(id).and_then(|i| i.parent.clone());
        while let Some(p) = cur {
            cur = self.items.get(&p).and_then(|i| i.parent.clone());
            chain.push(p);
        }
        chain.reverse();
        chain
    }

    fn subtree_size(&self, id: &str) -> usize {
        let item = &self.items[id];
        if !item.folder {
            return item.content.len();
        }
        self.items
            .values()
            .filter(|c| !c.deleted && c.parent.as_deref() == Some(id))
            .map(|c| self.subtree_size(&c.id))
            .sum()
    }

    /// Records a change to `id`: a new sequence number and cTag (and eTag when its own
    /// properties or content changed).
    fn touch(&mut self, id: &str, own_change: bool, now: OffsetDateTime) {
        self.seq += 1;
        let item = self.items.get_mut(id).expect("touched items exist");
        item.seq = self.seq;
        item.ctag += 1;
        if own_change {
            item.etag += 1;
            item.modified = now;
        }
    }

    /// Adds or replaces the file `name` in folder `folder_path` (created as needed).
    pub(crate) fn upsert_file(
        &mut self,
        folder_path: &str,
        name: &str,
        content: Vec<u8>,
        mime: Option<String>,
        now: OffsetDateTime,
    ) -> Result<String, ControlError> {
        if name.is_empty() || name.contains('/') {
            return Err(ControlError::bad_request("name must be a plain file name"));
        }
        let mut parent = self.root_id.clone();
        for segment in folder_path.split('/').filter(|s| !s.is_empty()) {
            parent = match self.live_child(&parent, segment) {
                Some(existing) if existing.folder => existing.id.clone(),
                Some(_) => {
                    return Err(ControlError::new(
                        StatusCode::CONFLICT,
                        format!("'{segment}' is a file, not a folder"),
                    ))
                }
                None => self.insert(&parent, segment, None, now),
            };
        }
        let mime = mime.unwrap_or_else(|| {
            mime_guess::from_path(name)
                .first_or_octet_stream()
                .essence_str()
                .to_string()
        });
        let id = match self.live_child(&parent, name) {
            Some(existing) if existing.folder => {
                return Err(ControlError::new(StatusCode::CONFLICT, format!("'{name}' is a folder")))
            }
            Some(existing) => existing.id.clone(),
            None => self.insert(&parent, name, Some(mime.clone()), now),
        };
        let item = self.items.get_mut(&id).expect("just found or inserted");
        item.content = Arc::from(content);
        item.mime = mime;
        for ancestor in self.ancestors(&id) {
            self.touch(&ancestor, false, now);
        }
        self.touch(&id, true, now);
        Ok(id)
    }

    /// Inserts a new child (a folder when `mime` is `None`) and returns its id.
    fn insert(&mut self, parent: &str, name: &str, mime: Option<String>, now: OffsetDateTime) -> String {
        let id = new_item_id();
        self.seq += 1;
        self.items.insert(
            id.clone(),
            Item {
                id: id.clone(),
                name: name.to_string(),
                parent: Some(parent.to_string()),
                folder: mime.is_none(),
                content: Arc::from(Vec::new()),
                mime: mime.unwrap_or_default(),
                ctag: 0,
                etag: 0,
                created: now,
                modified: now,
                seq: self.seq,
                deleted: false,
            },
        );
        id
    }

    /// Deletes an item and everything below it.
    pub(crate) fn delete_item(&mut self, id: &str, now: OffsetDateTime) -> Result<(), ControlError> {
        if id == self.root_id {
            return Err(ControlError::bad_request("the root cannot be deleted"));
        }
        if self.live(id).is_none() {
            return Err(ControlError::not_found(format!("item {id} not found")));
        }
        for ancestor in self.ancestors(id) {
            self.touch(&ancestor, false, now);
        }
        let mut pending = vec![id.to_string()];
        while let Some(current) = pending.pop() {
            pending.extend(
                self.items
                    .values()
                    .filter(|c| !c.deleted && c.parent.as_deref() == Some(current.as_str()))
                    .map(|c| c.id.clone()),
            );
            self.touch(&current, true, now);
            self.items.get_mut(&current).expect("exists").deleted = true;
        }
        Ok(())
    }

    /// Finds a live item by its path below the root (`/Photos/a.jpg`).
    pub(crate) fn item_by_path(&self, path: &str) -> Option<String> {
        let mut current = self.root_id.clone();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            current = self.live_child(&current, segment)?.id.clone();
        }
        Some(current)
    }

    /// Invalidates every delta token issued so far.
    pub(crate) fn invalidate_delta_tokens(&mut self) {
        self.epoch += 1;
    }

    fn item_json(&self, item: &Item, base_url: &str) -> Value {
        let mut v = json!({
            "id": item.id,
            "name": item.name,
            "cTag": format!("\"c:{{{}}},{}\"", item.id, item.ctag),
            "eTag": format!("\"{{{}}},{}\"", item.id, item.etag),
            "createdDateTime": fmt_time(item.created),
            "lastModifiedDateTime": fmt_time(item.modified),
            "webUrl": format!("{base_url}/personal/{}/Documents{}", self.owner_oid, self.rel_path(&item.id)),
            "parentReference": { "driveId": self.id, "driveType": "business" },
        });
        if let Some(parent) = &item.parent {
            v["parentReference"]["id"] = parent.clone().into();
            v["parentReference"]["path"] = format!("/drive/root:{}", self.rel_path(parent)).into();
        } else {
            v["root"] = json!({});
        }
        if item.folder {
            let children = self
                .items
                .values()
                .filter(|c| !c.deleted && c.parent.as_deref() == Some(item.id.as_str()))
                .count();
            v["folder"] = json!({ "childCount": children });
        } else {
            v["file"] = json!({ "mimeType": item.mime });
        }
        if item.deleted {
            v["deleted"] = json!({ "state": "deleted" });
            v["size"] = 0.into();
        } else {
            v["size"] = self.subtree_size(&item.id).into();
        }
        v
    }

    /// JSON of a live item, for the control API.
    pub(crate) fn live_item_json(&self, id: &str, base_url: &str) -> Option<Value> {
        self.live(id).map(|i| self.item_json(i, base_url))
    }
}

/// A drive the caller may read (same tenant), else 404 `itemNotFound`.
pub(crate) fn visible_drive<'a>(st: &'a EmuState, caller: &Caller, drive_id: &str) -> Result<&'a Drive, GraphError> {
    st.drives
        .get(drive_id)
        .filter(|d| d.tenant_id.eq_ignore_ascii_case(&caller.tenant_id))
        .ok_or_else(|| GraphError::not_found("itemNotFound", "The resource could not be found."))
}

/// Drive item and delta routes, plus the pre-authenticated download endpoint.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/drives/{drive}/root", get(root_item))
        .route("/v1.0/drives/{drive}/items/{item}", get(item))
        .route("/v1.0/drives/{drive}/root/delta", get(delta))
        .route("/v1.0/me/drive/root/delta", get(my_delta))
        .route("/v1.0/drives/{drive}/items/{item}/content", get(content))
        .route(DOWNLOAD_PATH, get(download))
}

async fn root_item(
    State(shared): State<AppState>,
    caller: Caller,
    Path(drive_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let st = shared.lock();
    let drive = visible_drive(&st, &caller, &drive_id)?;
    Ok(Json(drive.item_json(&drive.items[&drive.root_id], &shared.base_url)))
}

async fn item(
    State(shared): State<AppState>,
    caller: Caller,
    Path((drive_id, item_id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    let st = shared.lock();
    let drive = visible_drive(&st, &caller, &drive_id)?;
    drive
        .live_item_json(&item_id, &shared.base_url)
        .map(Json)
        .ok_or_else(item_not_found)
}

fn item_not_found() -> GraphError {
    GraphError::not_found("itemNotFound", "The resource could not be found.")
}

/// Position in a delta enumeration, carried by `token=` in next and delta links.
#[derive(Debug, PartialEq)]
struct DeltaToken {
    epoch: u32,
    /// Changes after this sequence number are returned.
    since: u64,
    /// For a next link: the drive's sequence number when the enumeration began, and the last
    /// (sequence, item id) returned.
    page: Option<(u64, u64, String)>,
}

impl DeltaToken {
    fn encode(&self) -> String {
        let raw = match &self.page {
            None => format!("{}.{}", self.epoch, self.since),
            Some((start, seq, id)) => format!("{}.{}.{start}.{seq}.{id}", self.epoch, self.since),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(token: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let parts: Vec<&str> = raw.split('.').collect();
        let (epoch, since) = (parts.first()?.parse().ok()?, parts.get(1)?.parse().ok()?);
        let page = match parts.len() {
            2 => None,
            5 => Some((parts[2].parse().ok()?, parts[3].parse().ok()?, parts[4].to_string())),
            _ => return None,
        };
        Some(Self { epoch, since, page })
    }
}

async fn my_delta(
    State(shared): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let drive_id = user_drive_id(&shared, &caller.tenant_id, caller.user()?)?;
    delta_page(&shared, &caller, &drive_id, &q).map(Json)
}

async fn delta(
    State(shared): State<AppState>,
    caller: Caller,
    Path(drive_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    delta_page(&shared, &caller, &drive_id, &q).map(Json)
}

fn delta_page(
    shared: &Shared,
    caller: &Caller,
    drive_id: &str,
    q: &HashMap<String, String>,
) -> Result<Value, GraphError> {
    let st = shared.lock();
    let drive = visible_drive(&st, caller, drive_id)?;
    let link_base = format!("{}/drives/{}/root/delta", shared.graph_base(), drive.id);
    let link = |t: &DeltaToken| format!("{link_base}?token={}", t.encode());
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(driveItem)",
        "value": [],
    });
    let token = match q.get("token").map(String::as_str) {
        None => DeltaToken {
            epoch: drive.epoch,
            since: 0,
            page: None,
        },
        Some("latest") => {
            let latest = DeltaToken {
                epoch: drive.epoch,
                since: drive.seq,
                page: None,
            };
            body["@odata.deltaLink"] = link(&latest).into();
            return Ok(body);
        }
        Some(raw) => {
            DeltaToken::decode(raw).ok_or_else(|| GraphError::bad_request("invalidRequest", "Invalid delta token."))?
        }
    };
    if token.epoch != drive.epoch {
        return Err(GraphError::new(
            StatusCode::GONE,
            "resyncRequired",
            "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.",
        )
        .with_header(header::LOCATION, link_base));
    }
    let page_size = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .map_or(shared.config.delta_page_size, |t| t.min(shared.config.delta_page_size))
        .max(1);
    let start = token.page.as_ref().map_or(drive.seq, |p| p.0);
    let after = token.page.as_ref().map(|p| (p.1, p.2.as_str()));
    let mut changed: Vec<&Item> = drive
        .items
        .values()
        .filter(|i| i.seq > token.since)
        .filter(|i| after.is_none_or(|a| (i.seq, i.id.as_str()) > a))
        // A full enumeration skips items deleted before it began.
        .filter(|i| !i.deleted || token.since > 0 || i.seq > start)
        .collect();
    changed.sort_by(|a, b| (a.seq, &a.id).cmp(&(b.seq, &b.id)));
    let more = changed.len() > page_size;
    changed.truncate(page_size);
    body["value"] = changed
        .iter()
        .map(|i| drive.item_json(i, &shared.base_url))
        .collect::<Vec<_>>()
        .into();
    match changed.last().filter(|_| more) {
        Some(last) => {
            let next = DeltaToken {
                epoch: drive.epoch,
                since: token.since,
                page: Some((start, last.seq, last.id.clone())),
            };
            body["@odata.nextLink"] = link(&next).into();
        }
        None => {
            let done = DeltaToken {
                epoch: drive.epoch,
                since: drive.seq,
                page: None,
            };
            body["@odata.deltaLink"] = link(&done).into();
        }
    }
    Ok(body)
}

async fn content(
    State(shared): State<AppState>,
    caller: Caller,
    Path((drive_id, item_id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    let mut st = shared.lock();
    let expires = st.now() + DOWNLOAD_URL_LIFETIME;
    let drive = visible_drive(&st, &caller, &drive_id)?;
    drive.live(&item_id).filter(|i| !i.folder).ok_or_else(item_not_found)?;
    let token = random_token(32);
    st.downloads.insert(
        token.clone(),
        DownloadGrant {
            drive_id,
            item_id: item_id.clone(),
            expires,
        },
    );
    let url = format!("{}{DOWNLOAD_PATH}?UniqueId={item_id}&tempauth={token}", shared.base_url);
    Ok(found(&url))
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq)]
enum RangeRequest {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a body of `len` bytes; anything else is ignored.
fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(a), Ok(b)) if b >= a => Some((a, b.min(len.saturating_sub(1)))),
        (Ok(a), Err(_)) if last.is_empty() => Some((a, len.saturating_sub(1))),
        (Err(_), Ok(n)) if first.is_empty() => {
            if n == 0 || len == 0 {
                return RangeRequest::Unsatisfiable;
            }
            Some((len.saturating_sub(n), len - 1))
        }
        _ => None,
    };
    match parsed {
        None => RangeRequest::Full,
        Some((a, _)) if a >= len => RangeRequest::Unsatisfiable,
        Some((a, b)) => RangeRequest::Partial(a, b),
    }
}

async fn download(
    State(shared): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let found = {
        let st = shared.lock();
        let now = st.now();
        q.get("tempauth")
            .and_then(|t| st.downloads.get(t))
            .filter(|g| g.expires > now)
            .map(|g| {
                st.drives.get(&g.drive_id).and_then(|d| {
                    d.live(&g.item_id)
                        .map(|i| (i.content.clone(), i.mime.clone(), i.etag, i.id.clone()))
                })
            })
    };
    let (content, mime, etag, id) = match found {
        None => return (StatusCode::UNAUTHORIZED, "The download URL is invalid or has expired.").into_response(),
        Some(None) => return (StatusCode::NOT_FOUND, "The item no longer exists.").into_response(),
        Some(Some(found)) => found,
    };
    let len = content.len() as u64;
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
    let (status, body, content_range) = match range {
        RangeRequest::Unsatisfiable => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response()
        }
        RangeRequest::Full => (StatusCode::OK, content.to_vec(), None),
        RangeRequest::Partial(a, b) => (
            StatusCode::PARTIAL_CONTENT,
            content[a as usize..=b as usize].to_vec(),
            Some(format!("bytes {a}-{b}/{len}")),
        ),
    };
    shared.lock().content_bytes_served += body.len() as u64;
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, mime)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{{{id}}},{etag}\""));
    if let Some(range) = content_range {
        response = response.header(header::CONTENT_RANGE, range);
    }
    response.body(Body::from(body)).expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), RangeRequest::Partial(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), RangeRequest::Partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), RangeRequest::Partial(6, 9));
        assert_eq!(parse_range(Some("bytes=-40"), 10), RangeRequest::Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), RangeRequest::Partial(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Full);
    }

    #[test]
    fn delta_tokens_round_trip() {
        for token in [
            DeltaToken {
                epoch: 2,
                since: 17,
                page: None,
            },
            DeltaToken {
                epoch: 1,
                since: 0,
                page: Some((9, 4, "01ABC".into())),
            },
        ] {
            assert_eq!(DeltaToken::decode(&token.encode()), Some(token));
        }
        assert_eq!(DeltaToken::decode("not-a-token"), None);
    }
}
