//! The observable state compared after every operation. Canonical: two models in the same state
//! produce equal snapshots, and [`Snapshot::diff`] names every field that is not.

use crate::Bits;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One extent_state: `[start, end]` inclusive, with its stored bits (never empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Record {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
    /// The bits every byte of the record has.
    pub bits: Bits,
}

impl Record {
    /// Bytes covered.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }
    /// Never: a record covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The stand-alone tree of the extent-tree ops, with its hook counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TreeSnapshot {
    /// The records, in order of offset.
    pub records: Vec<Record>,
    /// The hooks' count of max_extent-sized extents over the DELALLOC records.
    pub outstanding_extents: u64,
    /// Bytes in DELALLOC records, as the hooks count them.
    pub delalloc_bytes: u64,
    /// Bytes in DEFRAG records, as the hooks count them.
    pub defrag_bytes: u64,
    /// Bytes of the records carrying DELALLOC_NEW (SPEC §2.1).
    pub new_delalloc_bytes: u64,
}

/// How an ordered extent's data reaches the disk, which decides what its completion frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderedKind {
    /// Buffered data written to a newly allocated extent.
    Cow,
    /// Buffered data written in place (NORESERVE: no data reservation was taken).
    Nocow,
    /// An O_DIRECT write.
    Direct,
}

/// An ordered extent: data sent to disk whose completion (finish_ordered) is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderedExtent {
    /// File offset of its first byte.
    pub start: u64,
    /// Bytes.
    pub len: u64,
    /// How the data is written.
    pub kind: OrderedKind,
}

/// Per-inode state: the io tree and the btrfs_inode accounting fields. Fields one era has and
/// the other has not are `None` there and left out of the comparison (SPEC §0).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InodeSnapshot {
    /// The file size.
    pub i_size: u64,
    /// The inode's io tree, in order of offset.
    pub records: Vec<Record>,
    /// Extents that will need a metadata item: max_extent-sized pieces of the delalloc and of
    /// the pending ordered extents.
    pub outstanding_extents: u64,
    /// Extent items whose metadata is reserved (era B; `None` in era C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_extents: Option<u64>,
    /// Bytes whose checksums have metadata reserved.
    pub csum_bytes: u64,
    /// Bytes in DELALLOC records.
    pub delalloc_bytes: u64,
    /// Bytes in DEFRAG records.
    pub defrag_bytes: u64,
    /// btrfs_inode's new_delalloc_bytes: bytes of the records carrying DELALLOC_NEW (SPEC §2.1).
    pub new_delalloc_bytes: u64,
    /// BTRFS_INODE_DELALLOC_META_RESERVED: the inode-update item is reserved (era B; `None` in
    /// era C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delalloc_meta_reserved: Option<bool>,
    /// The inode's own block reservation, btrfs_inode::block_rsv (era C, SPEC §4.1; `None` in
    /// era B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_rsv: Option<BlockRsv>,
    /// The delayed-inode node's reservation (node->bytes_reserved), released at commit.
    pub delayed_bytes_reserved: u64,
    /// Pending ordered extents, by file offset.
    pub ordered: Vec<OrderedExtent>,
}

/// One btrfs_space_info (data or metadata): where its bytes are accounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpaceInfo {
    /// All the space there is.
    pub total: u64,
    /// Promised to reservations, not yet allocated.
    pub bytes_may_use: u64,
    /// Allocated for writes that have not completed.
    pub bytes_reserved: u64,
    /// Holding completed writes.
    pub bytes_used: u64,
}

impl SpaceInfo {
    /// Bytes not accounted to anything.
    pub fn free(&self) -> u64 {
        self.total
            .saturating_sub(self.bytes_may_use + self.bytes_reserved + self.bytes_used)
    }
}

/// One btrfs_block_rsv: metadata set aside for a purpose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRsv {
    /// What it should hold.
    pub size: u64,
    /// What it holds.
    pub reserved: u64,
}

/// Counts of the kernel's WARN_ONs that the model reached. A correct run reaches
/// `global_rsv_steals` legitimately (seed 002's last resort); the others mean a leak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Warnings {
    /// The delayed-inode update stole from the global reserve (seed 002's WARN_ON(1)).
    pub global_rsv_steals: u64,
    /// Not even the global reserve could cover the inode update; it went unreserved.
    pub unreserved_inode_updates: u64,
    /// Inodes evicted with a non-zero accounting field (btrfs_destroy_inode's WARN_ONs).
    pub evict_leaks: u64,
    /// Unmounts that found space still reserved (close_ctree's checks).
    pub unmount_leaks: u64,
}

/// Everything the models are compared on after an op.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// False after an unmount.
    pub mounted: bool,
    /// The stand-alone tree of the extent-tree ops.
    pub tree: TreeSnapshot,
    /// Each inode, by number.
    pub inodes: Vec<InodeSnapshot>,
    /// The data space info.
    pub data: SpaceInfo,
    /// The metadata space info.
    pub meta: SpaceInfo,
    /// The fs-wide delalloc block reservation (era B; `None` in era C, which reserves per inode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delalloc_rsv: Option<BlockRsv>,
    /// The delayed-inode items' block reservation.
    pub delayed_rsv: BlockRsv,
    /// The global block reservation.
    pub global_rsv: BlockRsv,
    /// fs_info->delalloc_bytes: the sum of the inodes' delalloc_bytes.
    pub fs_delalloc_bytes: u64,
    /// The WARN_ONs reached so far.
    pub warnings: Warnings,
}

/// One field that differs: its path (`inodes[1].outstanding_extents`) and both values as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldDiff {
    /// The field's path in the snapshot.
    pub field: String,
    /// The left model's value, as JSON.
    pub left: String,
    /// The right model's value, as JSON.
    pub right: String,
}

impl Snapshot {
    /// Every differing field, `left` from self and `right` from other. Record lists are compared
    /// whole (one split shifts every later index, so element-wise output would only confuse).
    pub fn diff(&self, other: &Snapshot) -> Vec<FieldDiff> {
        let a = serde_json::to_value(self).expect("snapshot serializes");
        let b = serde_json::to_value(other).expect("snapshot serializes");
        let mut out = Vec::new();
        diff_values("", &a, &b, &mut out);
        out
    }
}

impl Snapshot {
    /// The value of the field at `path` (as [`Snapshot::diff`] names fields:
    /// `inodes[1].outstanding_extents`, `tree.records`), written as `diff` writes it; `None` if
    /// there is no such field.
    pub fn field_value(&self, path: &str) -> Option<String> {
        let mut v = serde_json::to_value(self).expect("snapshot serializes");
        for part in path.split('.') {
            let (name, indices) = part.split_once('[').unwrap_or((part, ""));
            v = v.get_mut(name)?.take();
            for index in indices.split('[').filter(|i| !i.is_empty()) {
                let i: usize = index.strip_suffix(']')?.parse().ok()?;
                v = v.get_mut(i)?.take();
            }
        }
        Some(render(&v))
    }
}

fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldDiff>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match mb.get(k) {
                    Some(vb) => diff_values(&p, va, vb, out),
                    None => out.push(FieldDiff {
                        field: p,
                        left: va.to_string(),
                        right: "(absent)".into(),
                    }),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    out.push(FieldDiff {
                        field: p,
                        left: "(absent)".into(),
                        right: vb.to_string(),
                    });
                }
            }
        }
        (Value::Array(xa), Value::Array(xb))
            if xa.len() == xb.len() && !path.ends_with("records") && !path.ends_with("ordered") =>
        {
            for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
                diff_values(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ => out.push(FieldDiff {
            field: path.to_string(),
            left: render(a),
            right: render(b),
        }),
    }
}

/// Record lists read best as `[start..=end BITS, ...]`.
fn render(v: &Value) -> String {
    if let Value::Array(items) = v {
        if items
            .iter()
            .all(|x| x.get("bits").is_some() && x.get("start").is_some())
        {
            let parts: Vec<String> = items
                .iter()
                .map(|x| {
                    let bits = Bits(x["bits"].as_u64().unwrap_or(0) as u32);
                    format!("{}..={} {}", x["start"], x["end"], bits)
                })
                .collect();
            return format!("[{}]", parts.join(", "));
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_the_differing_fields() {
        let mut a = Snapshot {
            inodes: vec![InodeSnapshot::default(); 2],
            ..Default::default()
        };
        let mut b = a.clone();
        assert!(a.diff(&b).is_empty());
        b.inodes[1].outstanding_extents = 3;
        b.meta.bytes_may_use = 7;
        a.inodes[0].records.push(Record {
            start: 0,
            end: 4095,
            bits: Bits::DELALLOC,
        });
        let d = a.diff(&b);
        let fields: Vec<&str> = d.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "inodes[0].records",
                "inodes[1].outstanding_extents",
                "meta.bytes_may_use"
            ]
        );
        assert_eq!(d[0].left, "[0..=4095 DELALLOC]");
        assert_eq!(d[0].right, "[]");
        assert_eq!(d[1].right, "3");
        // Every field diff names is one field_value reads, written the same way.
        for f in &d {
            assert_eq!(a.field_value(&f.field).as_deref(), Some(f.left.as_str()));
            assert_eq!(b.field_value(&f.field).as_deref(), Some(f.right.as_str()));
        }
        assert_eq!(b.field_value("inodes[2].outstanding_extents"), None);
        assert_eq!(b.field_value("nothing"), None);
        assert_eq!(b.field_value("meta[0]"), None);
    }
}
