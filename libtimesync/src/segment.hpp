// Internal: seqlock access to the shared segment, shared by reader and writer.
#pragma once

#include <cstddef>

#include "timesync/segment_layout.hpp"
#include "timesync/transform.hpp"

namespace timesync::segment {

// How often a reader retries before giving up with kBusy. A retry needs the
// writer to complete two publishes during one read, so exhausting this means
// the slot named by `latest` is stuck odd: corrupt, or its writer died.
inline constexpr int kMaxReadAttempts = 4096;

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

// Fills a fresh header (latest 0: never published; slots zeroed).
void init(layout::Segment* seg, uint32_t writer_pid);

}  // namespace timesync::segment
