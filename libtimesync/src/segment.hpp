// Internal: seqlock access to the shared segment, shared by reader and writer.
//
// Two ways in: through a mapping (the sealed copy, which nobody can shrink:
// read()/read_transform()/write()), and through a descriptor of the file at
// the segment's path with pread/pwrite (read_file()/write_file()), because a
// mapping of that file dies with SIGBUS when someone truncates it. The file
// keeps the same seqlock protocol; each pwrite/pread is one step of it (the
// system calls order them as the fences order the mapping's accesses).
#pragma once

#include <cstddef>
#include <cstdint>

#include "timesync/segment_layout.hpp"
#include "timesync/transform.hpp"

namespace timesync::segment {

// How often a reader retries before giving up with kBusy. A retry needs the
// writer to complete two publishes during one read, so exhausting this means
// the slot named by `latest` is stuck odd: corrupt, or its writer died.
inline constexpr int kMaxReadAttempts = 4096;
// The same through the file (each attempt is two system calls).
inline constexpr int kMaxFileReadAttempts = 256;

// Checks the header of a mapping of file_size bytes.
Error check_header(const layout::Segment* seg, size_t file_size);

// A consistent snapshot, validated. kNotInitialized before the first publish, kBusy
// when the latest slot stays odd, kCorrupt for impossible contents.
Error read(const layout::Segment* seg, TransformSnapshot* out);

// The reader's hot path: a consistent snapshot without the master's identity
// and without validation (evaluate() validates what it uses).
Error read_transform(const layout::Segment* seg, Transform* out);

// Writer side: one seqlock update. Only the owning writer may call it.
void write(layout::Segment* seg, const TransformSnapshot& s);

// Fills a fresh header (latest 0: never published; slots zeroed). The slots'
// generations start at gen_base (even): a reader moved from one segment to
// another in the middle of a read (Clock swaps its mapping) cannot mistake
// two segments' generations for one unchanged slot.
void init(layout::Segment* seg, uint32_t writer_pid, uint64_t instance = 0,
          uint64_t gen_base = 0);

// The header fields a reader of the file acts on (valid only if header_ok).
struct FileHeader {
  bool header_ok = false;
  uint64_t instance = 0;
  uint64_t flags = 0;
};

// read()/read_transform() on the file behind fd, with pread. A short or
// overwritten file is an error (kTruncated, kBadMagic, ...), never a signal.
Error read_file(int fd, TransformSnapshot* out, FileHeader* h);
Error read_file_transform(int fd, Transform* out, FileHeader* h);

// write() into the file behind fd: *shadow is the writer's private image of
// the file, updated, and the changed words written in seqlock order (odd
// generation, payload, even generation, latest). False if a pwrite failed.
bool write_file(int fd, layout::Segment* shadow, const TransformSnapshot& s);

}  // namespace timesync::segment
