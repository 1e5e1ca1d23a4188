/*
 * delalloc-kernel glue, the file-system level: a flat C API over a file system as the kernel's
 * delalloc accounting sees it (struct dk_fs, dk_glue.h), so that Rust never needs the layout of
 * a kernel struct. Ours, not kernel code: every function here either calls the kernel's own
 * (delalloc-space.c compiled as it is; the block-rsv.c functions, the hooks and the header
 * inlines extracted by name, see build.rs) or does what a kernel function too big to compile
 * here does to the counters, citing it.
 *
 * Not compiled alone: build.rs's generated OUT_DIR/dk_unity.c #includes the tree's
 * extent-io-tree.c, then glue.c, then this file (one translation unit, so that the tree views
 * share glue.c's static helpers).
 *
 * Single-threaded per file system, like the trees.
 */
#include "dk_glue.h"
#include "delalloc-space.h"
#include "block-rsv.h"
#include "space-info.h"

struct btrfs_inode *dk_fs_inode(struct dk_fs *fs, u32 ino)
{
	if (ino >= fs->inodes)
		dk_fatal("GLUE", "inode number out of range (the Rust side checks it)", __FILE__,
			 __LINE__);
	return &fs->inode[ino];
}

static void dk_init_space_info(struct dk_fs *fs, struct btrfs_space_info *s, u64 flags, u64 total)
{
	s->fs_info = &fs->fs_info;
	spin_lock_init(&s->lock);
	s->flags = flags;
	s->total_bytes = total;
}

/* The global reserve brought to its size, as the end of the kernel's
 * btrfs_update_global_block_rsv (block-rsv.c; 6.12 :400-413, 6.1 :421-434) does it: the
 * missing bytes are added to the metadata bytes_may_use (without checking free space: the
 * kernel does not either), an excess is given back. Ours only in where the size comes from:
 * the kernel computes it from the sizes of the extent, checksum and root trees, which do not
 * exist here; it is the configuration's global_rsv_size. */
void dk_fs_update_global_block_rsv(struct dk_fs *fs)
{
	struct btrfs_fs_info *fs_info = &fs->fs_info;
	struct btrfs_block_rsv *block_rsv = &fs_info->global_block_rsv;
	struct btrfs_space_info *sinfo = block_rsv->space_info;

	spin_lock(&sinfo->lock);
	spin_lock(&block_rsv->lock);
	if (block_rsv->reserved < block_rsv->size) {
		btrfs_space_info_update_bytes_may_use(fs_info, sinfo,
						      (s64)(block_rsv->size - block_rsv->reserved));
		block_rsv->reserved = block_rsv->size;
	} else if (block_rsv->reserved > block_rsv->size) {
		btrfs_space_info_update_bytes_may_use(fs_info, sinfo,
						      -(s64)(block_rsv->reserved - block_rsv->size));
		block_rsv->reserved = block_rsv->size;
	}
	block_rsv->full = (block_rsv->reserved == block_rsv->size);
	spin_unlock(&block_rsv->lock);
	spin_unlock(&sinfo->lock);
}

/*
 * A mounted file system as a fresh kernel has it:
 * - fs_info's block reservations initialised by the kernel's btrfs_init_block_rsv with the
 *   types btrfs_init_fs_info gives them (6.12 disk-io.c:2724-2732, 6.1 :3023-3031), then
 *   pointed at the metadata space info as btrfs_init_global_block_rsv does (block-rsv.c; the
 *   chunk reservation's system space info does not exist here: NULL); the global reserve is
 *   then filled to global_rsv_size (dk_fs_update_global_block_rsv); delayed_refs_rsv keeps size
 *   0 (no delayed ref is ever queued here);
 * - the data and metadata space infos with the configured totals, nothing used;
 * - one subvolume root (not the tree root: the inodes are ordinary files);
 * - each inode's block reservation initialised by the kernel's btrfs_init_metadata_block_rsv
 *   as btrfs_alloc_inode does (6.12 inode.c:7701, 6.1 :9078), i_size 0, and its io tree an
 *   IO_TREE_INODE_IO tree owned by it, so that the kernel's delalloc hooks account in it.
 */
struct dk_fs *dk_fs_new(const struct dk_fs_config *cfg)
{
	if (cfg->inodes == 0 || cfg->inodes > DK_MAX_INODES)
		return NULL;
	struct dk_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	struct btrfs_fs_info *fs_info = &fs->fs_info;

	fs_info->tree_root = NULL;
	spin_lock_init(&fs_info->delalloc_root_lock);
	INIT_LIST_HEAD(&fs_info->delalloc_roots);
	fs_info->delalloc_batch = 0;
	fs_info->nodesize = (u32)cfg->nodesize;
	fs_info->sectorsize = (u32)cfg->sectorsize;
	fs_info->sectorsize_bits = (u32)__builtin_ctzll(cfg->sectorsize);
	fs_info->csums_per_leaf = (u32)cfg->csums_per_leaf;
	fs_info->max_extent_size = cfg->max_extent_size;

	dk_init_space_info(fs, &fs->data_sinfo, BTRFS_BLOCK_GROUP_DATA, cfg->data_total);
	dk_init_space_info(fs, &fs->meta_sinfo, BTRFS_BLOCK_GROUP_METADATA, cfg->meta_total);
	fs_info->data_sinfo = &fs->data_sinfo;
	fs_info->dk_meta_sinfo = &fs->meta_sinfo;

	btrfs_init_block_rsv(&fs_info->global_block_rsv, BTRFS_BLOCK_RSV_GLOBAL);
	btrfs_init_block_rsv(&fs_info->trans_block_rsv, BTRFS_BLOCK_RSV_TRANS);
	btrfs_init_block_rsv(&fs_info->chunk_block_rsv, BTRFS_BLOCK_RSV_CHUNK);
	btrfs_init_block_rsv(&fs_info->empty_block_rsv, BTRFS_BLOCK_RSV_EMPTY);
	btrfs_init_block_rsv(&fs_info->delayed_block_rsv, BTRFS_BLOCK_RSV_DELOPS);
	btrfs_init_block_rsv(&fs_info->delayed_refs_rsv, BTRFS_BLOCK_RSV_DELREFS);
	fs_info->chunk_block_rsv.space_info = NULL;
	fs_info->global_block_rsv.space_info = &fs->meta_sinfo;
	fs_info->trans_block_rsv.space_info = &fs->meta_sinfo;
	fs_info->empty_block_rsv.space_info = &fs->meta_sinfo;
	fs_info->delayed_block_rsv.space_info = &fs->meta_sinfo;
	fs_info->delayed_refs_rsv.space_info = &fs->meta_sinfo;
	fs_info->global_block_rsv.size = cfg->global_rsv_size;
	dk_fs_update_global_block_rsv(fs);

	fs->root.fs_info = fs_info;
	spin_lock_init(&fs->root.delalloc_lock);
	INIT_LIST_HEAD(&fs->root.delalloc_inodes);
	INIT_LIST_HEAD(&fs->root.delalloc_root);
	fs->sb.s_fs_info = fs_info;

	fs->inodes = cfg->inodes;
	for (u32 i = 0; i < cfg->inodes; i++) {
		struct btrfs_inode *inode = &fs->inode[i];
		inode->root = &fs->root;
		spin_lock_init(&inode->lock);
		INIT_LIST_HEAD(&inode->delalloc_inodes);
		inode->vfs_inode.i_sb = &fs->sb;
		btrfs_init_metadata_block_rsv(fs_info, &inode->block_rsv, BTRFS_BLOCK_RSV_DELALLOC);
#if defined(DK_INIT_PRIVATE)
		extent_io_tree_init(fs_info, &inode->io_tree, IO_TREE_INODE_IO, &inode->vfs_inode);
#elif defined(DK_TREE_HAS_INODE)
		extent_io_tree_init(fs_info, &inode->io_tree, IO_TREE_INODE_IO);
		inode->io_tree.inode = inode;
#else
#error "this tree's extent_io_tree has neither private_data nor an inode: the glue cannot give it one"
#endif
		fs->tree[i].tree = &inode->io_tree;
		fs->tree[i].inode = inode;
		fs->tree[i].fs = NULL;
	}
	return fs;
}

/* Frees every inode tree (its view's cached state, its records through the hooks, the tree)
 * and the file system. Whatever is still reserved is simply dropped with it. */
void dk_fs_free(struct dk_fs *fs)
{
	if (!fs)
		return;
	for (u32 i = 0; i < fs->inodes; i++) {
		dk_tree_empty(&fs->tree[i]);
		extent_io_tree_release(fs->tree[i].tree);
	}
	free(fs);
}

/* The view handle of inode `ino`'s io tree: every dk_* tree op of glue.c takes it. */
struct dk_tree *dk_fs_tree(struct dk_fs *fs, u32 ino)
{
	dk_fs_inode(fs, ino);
	return &fs->tree[ino];
}

/* ---- SPEC §3's space: free space and injected faults (shim/space.c reads the flags) ---- */

/* kind: 0 data, 1 metadata. */
void dk_fs_fail_next_reservation(struct dk_fs *fs, int kind)
{
	if (kind == 0)
		fs->fs_info.dk_fail_next_data = 1;
	else
		fs->fs_info.dk_fail_next_meta = 1;
}

static void dk_set_free(struct btrfs_space_info *s, u64 free_bytes)
{
	s->total_bytes = s->bytes_may_use + s->bytes_reserved + s->bytes_used + s->bytes_pinned +
			 s->bytes_readonly + s->bytes_zone_unusable + free_bytes;
}

/* SPEC's set_free_space: each space info's total becomes what it holds plus `free` bytes. */
void dk_fs_set_free_space(struct dk_fs *fs, u64 data_free, u64 meta_free)
{
	dk_set_free(&fs->data_sinfo, data_free);
	dk_set_free(&fs->meta_sinfo, meta_free);
}

/* ---- delalloc-space.c: the kernel's functions, on inode `ino`. No qgroups, so the
 * changesets (`reserved`) are NULL, as the kernel leaves them with quotas off. ---- */

int dk_fs_delalloc_reserve_space(struct dk_fs *fs, u32 ino, u64 start, u64 len)
{
	struct extent_changeset *reserved = NULL;
	return btrfs_delalloc_reserve_space(dk_fs_inode(fs, ino), &reserved, start, len);
}

int dk_fs_delalloc_reserve_metadata(struct dk_fs *fs, u32 ino, u64 num_bytes,
				    u64 disk_num_bytes, int noflush)
{
	return btrfs_delalloc_reserve_metadata(dk_fs_inode(fs, ino), num_bytes, disk_num_bytes,
					       noflush != 0);
}

void dk_fs_delalloc_release_space(struct dk_fs *fs, u32 ino, u64 start, u64 len,
				  int qgroup_free)
{
	btrfs_delalloc_release_space(dk_fs_inode(fs, ino), NULL, start, len, qgroup_free != 0);
}

void dk_fs_delalloc_release_metadata(struct dk_fs *fs, u32 ino, u64 len, int qgroup_free)
{
	btrfs_delalloc_release_metadata(dk_fs_inode(fs, ino), len, qgroup_free != 0);
}

void dk_fs_delalloc_release_extents(struct dk_fs *fs, u32 ino, u64 len)
{
	btrfs_delalloc_release_extents(dk_fs_inode(fs, ino), len);
}

int dk_fs_check_data_free_space(struct dk_fs *fs, u32 ino, u64 start, u64 len, int noflush)
{
	struct extent_changeset *reserved = NULL;
	return btrfs_check_data_free_space(dk_fs_inode(fs, ino), &reserved, start, len,
					   noflush != 0);
}

void dk_fs_free_reserved_data_space(struct dk_fs *fs, u32 ino, u64 start, u64 len)
{
	btrfs_free_reserved_data_space(dk_fs_inode(fs, ino), NULL, start, len);
}

void dk_fs_free_reserved_data_space_noquota(struct dk_fs *fs, u64 len)
{
	btrfs_free_reserved_data_space_noquota(&fs->fs_info, len);
}

/* ---- block-rsv.c: the kernel's functions on a reservation named by number ---- */

/* 0..inodes-1: that inode's block_rsv; the others by name. */
enum {
	DK_RSV_GLOBAL = 100,
	DK_RSV_DELAYED = 101,	  /* fs_info->delayed_block_rsv (delayed inode items) */
	DK_RSV_DELAYED_REFS = 102, /* fs_info->delayed_refs_rsv */
};

static struct btrfs_block_rsv *dk_rsv(struct dk_fs *fs, u32 which)
{
	switch (which) {
	case DK_RSV_GLOBAL:
		return &fs->fs_info.global_block_rsv;
	case DK_RSV_DELAYED:
		return &fs->fs_info.delayed_block_rsv;
	case DK_RSV_DELAYED_REFS:
		return &fs->fs_info.delayed_refs_rsv;
	default:
		return &dk_fs_inode(fs, which)->block_rsv;
	}
}

int dk_fs_block_rsv_migrate(struct dk_fs *fs, u32 src, u32 dst, u64 num_bytes, int update_size)
{
	return btrfs_block_rsv_migrate(dk_rsv(fs, src), dk_rsv(fs, dst), num_bytes,
				       update_size != 0);
}

/* btrfs_block_rsv_release(rsv, num_bytes) ((u64)-1: all of it); the bytes it freed. */
u64 dk_fs_block_rsv_release(struct dk_fs *fs, u32 which, u64 num_bytes)
{
	return btrfs_block_rsv_release(&fs->fs_info, dk_rsv(fs, which), num_bytes, NULL);
}

/* btrfs_block_rsv_add: a fresh reservation of num_bytes into the reservation, size included
 * (what btrfs_delayed_inode_reserve_metadata does for an inode update without a transaction
 * reservation to migrate from). No flushing (shim/space.c). */
int dk_fs_block_rsv_add(struct dk_fs *fs, u32 which, u64 num_bytes)
{
	return btrfs_block_rsv_add(&fs->fs_info, dk_rsv(fs, which), num_bytes,
				   BTRFS_RESERVE_NO_FLUSH);
}

/* close_ctree's btrfs_release_global_block_rsv: releases the global reserve and WARNs for
 * every other fs-wide reservation (trans, chunk, delayed items, delayed refs) not empty. */
void dk_fs_release_global_block_rsv(struct dk_fs *fs)
{
	btrfs_release_global_block_rsv(&fs->fs_info);
}

/* ---- ordered extents: the two steps of ordered-data.c that touch the accounting ---- */

/* alloc_ordered_extent (6.12 ordered-data.c:208-210; 6.1 btrfs_add_ordered_extent :259-261):
 * one outstanding extent per ordered extent, under the inode's lock. */
void dk_fs_ordered_added(struct dk_fs *fs, u32 ino)
{
	struct btrfs_inode *inode = dk_fs_inode(fs, ino);
	spin_lock(&inode->lock);
	btrfs_mod_outstanding_extents(inode, 1);
	spin_unlock(&inode->lock);
}

/* btrfs_remove_ordered_extent (6.12 ordered-data.c:651-664; 6.1 :556-569) for an ordered
 * extent of num_bytes (not encoded, no IO error): the outstanding extent goes, then its
 * metadata, unless the inode's root is the tree root. */
void dk_fs_ordered_removed(struct dk_fs *fs, u32 ino, u64 num_bytes)
{
	struct btrfs_inode *inode = dk_fs_inode(fs, ino);
	spin_lock(&inode->lock);
	btrfs_mod_outstanding_extents(inode, -1);
	spin_unlock(&inode->lock);
	if (inode->root != fs->fs_info.tree_root)
		btrfs_delalloc_release_metadata(inode, num_bytes, false);
}

/* btrfs_mod_outstanding_extents(inode, mod) under the inode's lock, for what the kernel does
 * with it elsewhere. */
void dk_fs_mod_outstanding_extents(struct dk_fs *fs, u32 ino, int mod)
{
	struct btrfs_inode *inode = dk_fs_inode(fs, ino);
	spin_lock(&inode->lock);
	btrfs_mod_outstanding_extents(inode, mod);
	spin_unlock(&inode->lock);
}

/* ---- data extents: what block-group.c does to the data space info ---- */

/* btrfs_add_reserved_bytes (block-group.c) for a delalloc extent of len bytes: the allocator
 * reserved them (bytes_reserved += len) and the delalloc reservation they came from is used
 * (bytes_may_use -= len, through the kernel's helper). */
void dk_fs_data_reserve_extent(struct dk_fs *fs, u64 len)
{
	struct btrfs_space_info *s = &fs->data_sinfo;
	spin_lock(&s->lock);
	s->bytes_reserved += len;
	btrfs_space_info_update_bytes_may_use(&fs->fs_info, s, -(s64)len);
	spin_unlock(&s->lock);
}

/* btrfs_update_block_group (block-group.c) allocating an extent that was reserved: reserved
 * becomes used. An underflow is reported as the kernel's WARN_ON would be, and clamps. */
void dk_fs_data_use_extent(struct dk_fs *fs, u64 len)
{
	struct btrfs_space_info *s = &fs->data_sinfo;
	spin_lock(&s->lock);
	if (WARN_ON(s->bytes_reserved < len))
		s->bytes_reserved = 0;
	else
		s->bytes_reserved -= len;
	s->bytes_used += len;
	spin_unlock(&s->lock);
}

/* ---- the end of an inode ---- */

/* btrfs_destroy_inode frees the inode, whatever it still holds (its WARN_ONs are the model's
 * leak check), and the next iget allocates a fresh one (btrfs_alloc_inode: the counters 0, the
 * block reservation initialised by btrfs_init_metadata_block_rsv, 6.12 inode.c:7701). Bytes its
 * reservation still held stay in metadata bytes_may_use, as they would in the kernel. The io
 * tree (emptied by evict first) and i_size stay: the model's inode is the same file. */
void dk_fs_forget_inode(struct dk_fs *fs, u32 ino)
{
	struct btrfs_inode *inode = dk_fs_inode(fs, ino);
	spin_lock(&fs->root.delalloc_lock);
	if (!list_empty(&inode->delalloc_inodes))
		list_del_init(&inode->delalloc_inodes);
	spin_unlock(&fs->root.delalloc_lock);
	inode->outstanding_extents = 0;
	inode->csum_bytes = 0;
	inode->delalloc_bytes = 0;
	inode->new_delalloc_bytes = 0;
	inode->defrag_bytes = 0;
	inode->runtime_flags = 0;
	btrfs_init_metadata_block_rsv(&fs->fs_info, &inode->block_rsv, BTRFS_BLOCK_RSV_DELALLOC);
}

/* ---- i_size ---- */

void dk_fs_set_i_size(struct dk_fs *fs, u32 ino, u64 size)
{
	dk_fs_inode(fs, ino)->vfs_inode.i_size = (loff_t)size;
}

/* ---- reading every counter back ---- */

struct dk_space_counters {
	u64 total;
	u64 bytes_may_use;
	u64 bytes_reserved;
	u64 bytes_used;
};

struct dk_rsv_counters {
	u64 size;
	u64 reserved;
	u8 full;
};

struct dk_inode_counters {
	u64 i_size;
	u64 outstanding_extents;
	u64 csum_bytes;
	u64 delalloc_bytes;
	u64 defrag_bytes;
	u64 new_delalloc_bytes;
	struct dk_rsv_counters block_rsv;
};

struct dk_fs_counters {
	struct dk_space_counters data;
	struct dk_space_counters meta;
	struct dk_rsv_counters global_rsv;
	struct dk_rsv_counters delayed_rsv;
	struct dk_rsv_counters delayed_refs_rsv;
	s64 fs_delalloc_bytes;
};

static void dk_read_space(const struct btrfs_space_info *s, struct dk_space_counters *out)
{
	out->total = s->total_bytes;
	out->bytes_may_use = s->bytes_may_use;
	out->bytes_reserved = s->bytes_reserved;
	out->bytes_used = s->bytes_used;
}

static void dk_read_rsv(const struct btrfs_block_rsv *r, struct dk_rsv_counters *out)
{
	out->size = r->size;
	out->reserved = r->reserved;
	out->full = r->full ? 1 : 0;
}

void dk_fs_counters(struct dk_fs *fs, struct dk_fs_counters *out)
{
	memset(out, 0, sizeof(*out));
	dk_read_space(&fs->data_sinfo, &out->data);
	dk_read_space(&fs->meta_sinfo, &out->meta);
	dk_read_rsv(&fs->fs_info.global_block_rsv, &out->global_rsv);
	dk_read_rsv(&fs->fs_info.delayed_block_rsv, &out->delayed_rsv);
	dk_read_rsv(&fs->fs_info.delayed_refs_rsv, &out->delayed_refs_rsv);
	out->fs_delalloc_bytes = fs->fs_info.delalloc_bytes.count;
}

void dk_fs_inode_counters(struct dk_fs *fs, u32 ino, struct dk_inode_counters *out)
{
	const struct btrfs_inode *inode = dk_fs_inode(fs, ino);
	memset(out, 0, sizeof(*out));
	out->i_size = (u64)inode->vfs_inode.i_size;
	out->outstanding_extents = inode->outstanding_extents;
	out->csum_bytes = inode->csum_bytes;
	out->delalloc_bytes = inode->delalloc_bytes;
	out->defrag_bytes = inode->defrag_bytes;
	out->new_delalloc_bytes = inode->new_delalloc_bytes;
	dk_read_rsv(&inode->block_rsv, &out->block_rsv);
}
