//! Requests that do not change the tree: reads, watches, auth, SetWatches. They are answered
//! at once from the applied tree (the caller has already made them wait behind their
//! session's own pending writes).

use zk_proto::acl::{Id, Perms};
use zk_proto::multi::{MultiOp, MultiResponse, OpResult};
use zk_proto::records::*;
use zk_proto::{AddWatchMode, ErrorCode, EventType, Request, Response};

use super::StateMachine;
use crate::acl_check::{allowed, mask_digests};
use crate::tree::Node;
use crate::watches::{ConnId, Table, WatchLimit, WatchTable};

/// Most identities one connection may hold (its `ip` one included).
pub(super) const MAX_IDENTITIES: usize = 64;

impl StateMachine {
    fn lookup(&self, path: &str) -> Option<&Node> {
        self.replica
            .tree
            .get(if path.is_empty() { "/" } else { path })
    }

    fn child_names(&self, path: &str) -> Vec<String> {
        let path = if path.is_empty() { "/" } else { path };
        self.replica
            .tree
            .children(path)
            .map(str::to_owned)
            .collect()
    }

    fn readable(&self, node: &Node, ids: &[Id]) -> bool {
        allowed(&node.acl, ids, Perms::READ)
    }

    /// Registers a watch for `conn`; a connection over its watch limit is closed (the server
    /// must not keep without bound what one client asks it to remember).
    fn watch(&mut self, conn: ConnId, add: impl FnOnce(&mut WatchTable) -> Result<(), WatchLimit>) {
        if let Err(e) = add(&mut self.watches) {
            tracing::warn!(conn, "{e}; closing the connection");
            self.close(conn);
        }
    }

    pub(super) fn read(&mut self, conn: ConnId, sid: i64, xid: i32, request: Request) {
        let zxid = self.replica.tree.last_zxid;
        let ids = self.caller_ids(conn);
        let result: Result<Response, ErrorCode> = match request {
            Request::Ping => Ok(Response::Empty),
            Request::Exists(r) => {
                if r.watch {
                    self.watch(conn, |w| w.add_one_shot(Table::Data, &r.path, conn));
                }
                self.lookup(&r.path)
                    .map(|n| Response::Stat(n.stat()))
                    .ok_or(ErrorCode::NoNode)
            }
            Request::GetData(r) => match self.lookup(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) if !self.readable(n, &ids) => Err(ErrorCode::NoAuth),
                Some(n) => {
                    let resp = Response::GetData(GetDataResponse {
                        data: n.data.to_bytes(),
                        stat: n.stat(),
                    });
                    if r.watch {
                        self.watch(conn, |w| w.add_one_shot(Table::Data, &r.path, conn));
                    }
                    Ok(resp)
                }
            },
            Request::GetChildren(r) | Request::GetChildren2(r)
                if self.too_many_children(&r.path) =>
            {
                return self.refuse_large_reply(conn, xid, "children");
            }
            Request::GetChildren(r) => self.children(conn, &r, &ids, false),
            Request::GetChildren2(r) => self.children(conn, &r, &ids, true),
            Request::GetAcl(r) => match self.lookup(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) if !allowed(&n.acl, &ids, Perms::READ | Perms::ADMIN) => {
                    Err(ErrorCode::NoAuth)
                }
                Some(n) => {
                    let acl = if allowed(&n.acl, &ids, Perms::ADMIN) {
                        n.acl.to_vec()
                    } else {
                        mask_digests(&n.acl)
                    };
                    Ok(Response::GetAcl(GetAclResponse {
                        acl,
                        stat: n.stat(),
                    }))
                }
            },
            Request::Sync(r) => Ok(Response::Sync(SyncResponse { path: r.path })),
            Request::CheckWatches(r) => self
                .watches
                .check_or_remove(&r.path, r.watcher_type, conn, false)
                .and_then(|found| found.then_some(Response::Empty).ok_or(ErrorCode::NoWatcher)),
            Request::RemoveWatches(r) => self
                .watches
                .check_or_remove(&r.path, r.watcher_type, conn, true)
                .and_then(|found| found.then_some(Response::Empty).ok_or(ErrorCode::NoWatcher)),
            Request::GetEphemerals(r) => {
                let prefix = r.prefix_path;
                let all = prefix.is_empty() || prefix == "/";
                let ephemerals = self
                    .replica
                    .tree
                    .ephemerals_of(sid)
                    .filter(|p| all || p.starts_with(&prefix))
                    .cloned()
                    .collect();
                Ok(Response::GetEphemerals(GetEphemeralsResponse {
                    ephemerals,
                }))
            }
            Request::GetAllChildrenNumber(r) => match self.lookup(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) if !self.readable(n, &ids) => Err(ErrorCode::NoAuth),
                Some(_) => {
                    let path = if r.path.is_empty() { "/" } else { &r.path };
                    let total = self.replica.tree.descendant_count(path);
                    Ok(Response::GetAllChildrenNumber(
                        GetAllChildrenNumberResponse {
                            total_number: i32::try_from(total).unwrap_or(i32::MAX),
                        },
                    ))
                }
            },
            Request::AddWatch(r) => match AddWatchMode::try_from(r.mode) {
                Err(_) => Err(ErrorCode::BadArguments),
                Ok(mode) => {
                    let recursive = mode == AddWatchMode::PersistentRecursive;
                    self.watch(conn, |w| w.add_persistent(&r.path, conn, recursive));
                    Ok(Response::AddWatch(ErrorResponse { err: ErrorCode::Ok }))
                }
            },
            Request::WhoAmI => {
                // 3.8 lists the identities newest first (the implicit `ip` one last).
                let mut client_info: Vec<ClientInfo> = ids
                    .iter()
                    .rev()
                    .map(|i| ClientInfo {
                        auth_scheme: i.scheme.clone(),
                        // The digest provider reports the user name, not the hash.
                        user: if i.scheme == "digest" {
                            i.id.split(':').next().unwrap_or_default().to_owned()
                        } else {
                            i.id.clone()
                        },
                    })
                    .collect();
                client_info.dedup();
                Ok(Response::WhoAmI(WhoAmIResponse { client_info }))
            }
            Request::Sasl(_) => Ok(Response::Sasl(SetSaslResponse { token: None })),
            Request::MultiRead(m) => match self.multi_read(&m.ops, &ids) {
                Some(r) => Ok(r),
                None => return self.refuse_large_reply(conn, xid, "multiRead"),
            },
            Request::Auth(a) => {
                self.auth(conn, xid, a);
                return;
            }
            Request::SetWatches(w) => {
                self.set_watches(
                    conn,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &[],
                    &[],
                );
                Ok(Response::Empty)
            }
            Request::SetWatches2(w) => {
                self.set_watches(
                    conn,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &w.persistent_watches,
                    &w.persistent_recursive_watches,
                );
                Ok(Response::Empty)
            }
            // Writes never get here; answer defensively.
            _ => Err(ErrorCode::BadArguments),
        };
        // SASL replies, like auth replies, carry zxid 0.
        let zxid = if matches!(result, Ok(Response::Sasl(_))) {
            0
        } else {
            zxid
        };
        match result {
            Ok(body) => self.reply(conn, xid, zxid, ErrorCode::Ok, &body),
            Err(code) => self.reply(conn, xid, zxid, code, &Response::Empty),
        }
    }

    fn children(
        &mut self,
        conn: ConnId,
        r: &GetChildrenRequest,
        ids: &[Id],
        with_stat: bool,
    ) -> Result<Response, ErrorCode> {
        let node = self.lookup(&r.path).ok_or(ErrorCode::NoNode)?;
        if !self.readable(node, ids) {
            return Err(ErrorCode::NoAuth);
        }
        let stat = node.stat();
        let children = self.child_names(&r.path);
        if r.watch {
            self.watch(conn, |w| w.add_one_shot(Table::Child, &r.path, conn));
        }
        Ok(if with_stat {
            Response::GetChildren2(GetChildren2Response { children, stat })
        } else {
            Response::GetChildren(GetChildrenResponse { children })
        })
    }

    /// Whether the names of `path`'s children alone exceed the largest reply (counted
    /// without building the list).
    fn too_many_children(&self, path: &str) -> bool {
        let path = if path.is_empty() { "/" } else { path };
        let limit = self.config.max_reply_len;
        let mut size = 0usize;
        for name in self.replica.tree.children(path) {
            size += 4 + name.len();
            if size > limit {
                return true;
            }
        }
        false
    }

    /// The multiRead's results, or `None` when the reply would exceed the largest reply: the
    /// size is counted as the results are gathered (node data is shared, not copied), so an
    /// oversized reply is never built.
    fn multi_read(&self, ops: &[MultiOp], ids: &[Id]) -> Option<Response> {
        let limit = self.config.max_reply_len;
        // Per result: its header (type, done, error) and, for data, the stat.
        const RESULT_HEAD: usize = 4 + 1 + 4;
        const STAT: usize = 68;
        let mut size = 16usize;
        let mut results = Vec::new();
        for op in ops {
            let result = match op {
                MultiOp::GetData(r) => match self.lookup(&r.path) {
                    None => OpResult::Error(ErrorCode::NoNode),
                    Some(n) if !self.readable(n, ids) => OpResult::Error(ErrorCode::NoAuth),
                    Some(n) => {
                        size += 4 + n.data.len() + STAT;
                        OpResult::GetData(GetDataResponse {
                            data: n.data.to_bytes(),
                            stat: n.stat(),
                        })
                    }
                },
                MultiOp::GetChildren(r) => match self.lookup(&r.path) {
                    None => OpResult::Error(ErrorCode::NoNode),
                    Some(n) if !self.readable(n, ids) => OpResult::Error(ErrorCode::NoAuth),
                    Some(_) if self.too_many_children(&r.path) => return None,
                    Some(_) => {
                        let children = self.child_names(&r.path);
                        size += 4 + children.iter().map(|c| 4 + c.len()).sum::<usize>();
                        OpResult::GetChildren(GetChildrenResponse { children })
                    }
                },
                _ => OpResult::Error(ErrorCode::MarshallingError),
            };
            size += RESULT_HEAD;
            if size > limit {
                return None;
            }
            results.push(result);
        }
        Some(Response::Multi(MultiResponse { results }))
    }

    fn auth(&mut self, conn: ConnId, xid: i32, a: AuthPacket) {
        let new_ids: Option<Vec<Id>> = match a.scheme.as_str() {
            "digest" => {
                let id = digest_of_token(&a.auth);
                let mut v = vec![Id::new("digest", id.clone())];
                if self.config.super_digest.as_deref() == Some(id.as_str()) {
                    v.push(Id::new("super", ""));
                }
                Some(v)
            }
            "ip" => self
                .conns
                .get(&conn)
                .map(|c| vec![Id::new("ip", c.addr.ip().to_canonical().to_string())]),
            _ => None,
        };
        let too_many = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.ids.len() >= MAX_IDENTITIES);
        match new_ids {
            Some(_) if too_many => {
                // Every ACL check and every `auth` expansion walks this list, on the one
                // state-machine task: a client must not grow it without bound.
                tracing::info!(conn, "too many identities on one connection; refused");
                self.reply(conn, xid, 0, ErrorCode::AuthFailed, &Response::Empty);
                self.close(conn);
            }
            Some(new_ids) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    for id in new_ids {
                        if !c.ids.contains(&id) {
                            c.ids.push(id);
                        }
                    }
                }
                self.reply(conn, xid, 0, ErrorCode::Ok, &Response::Empty);
            }
            None => {
                tracing::info!(conn, scheme = %a.scheme, "authentication failed");
                self.reply(conn, xid, 0, ErrorCode::AuthFailed, &Response::Empty);
                self.close(conn);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn set_watches(
        &mut self,
        conn: ConnId,
        rel: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        recursive: &[String],
    ) {
        let event = EventType::NodeDataChanged;
        self.rearm_one_shot(conn, rel, data, Table::Data, |n| n.mzxid, event);
        for p in exist {
            if self.replica.tree.get(p).is_some() {
                self.notify(conn, EventType::NodeCreated, p);
            } else {
                self.watch(conn, |w| w.add_one_shot(Table::Data, p, conn));
            }
        }
        let event = EventType::NodeChildrenChanged;
        self.rearm_one_shot(conn, rel, child, Table::Child, |n| n.pzxid, event);
        for p in persistent {
            self.watch(conn, |w| w.add_persistent(p, conn, false));
        }
        for p in recursive {
            self.watch(conn, |w| w.add_persistent(p, conn, true));
        }
    }

    /// Re-arms the one-shot watches of `table` a client held before reconnecting, unless the
    /// node changed since `rel` (the last zxid it saw): then the watch fires at once, with
    /// `NodeDeleted` if the node is gone and `changed` otherwise. `zxid_of` says which of
    /// the node's zxids the watch is about.
    fn rearm_one_shot(
        &mut self,
        conn: ConnId,
        rel: i64,
        paths: &[String],
        table: Table,
        zxid_of: fn(&Node) -> i64,
        changed: EventType,
    ) {
        for p in paths {
            match self.replica.tree.get(p).map(zxid_of) {
                None => self.notify(conn, EventType::NodeDeleted, p),
                Some(z) if z > rel => self.notify(conn, changed, p),
                Some(_) => self.watch(conn, |w| w.add_one_shot(table, p, conn)),
            }
        }
    }
}

/// The digest identity for an auth token, as ZooKeeper's `DigestAuthenticationProvider`
/// computes it: the part before the first `:` (the whole token if there is none), a `:`, and
/// base64(sha1(token)). Any token is accepted.
pub(super) fn digest_of_token(token: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let text = String::from_utf8_lossy(token);
    let user = text.split(':').next().unwrap_or_default();
    let hash = sha1::Sha1::digest(text.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}
