// SegmentWriter - the agent's side of the shared segment.
//
// Exactly one writer per segment: create() takes an exclusive flock on
// "<path>.lock" for the writer's lifetime; a second writer gets kWriterExists
// and a message naming the owner's pid. The segment file is created atomically
// (initialised in a temporary file, then renamed into place) with mode 0644, so
// no reader ever sees it half-initialised. A valid segment left by a previous
// writer is reused in place, so readers that already mapped it keep working
// across an agent restart.
//
// Thread safety: publish() must be called from one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "timesync/transform.hpp"
#include "timesync/types.hpp"

namespace timesync {

namespace layout {
struct Segment;
}

class SegmentWriter {
 public:
  // On failure *why (if given) says what went wrong in words.
  static Result<std::unique_ptr<SegmentWriter>> create(const std::string& path,
                                                       std::string* why = nullptr);
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;
  // Marks the segment unsynchronized (readers stop getting times at once) and
  // releases the writer lock.
  ~SegmentWriter();

  // Releases the segment but leaves the last snapshot in place, as a crashed
  // writer would: readers keep using it until its void_after, then refuse it.
  // For tools that publish once and exit.
  static void detach(std::unique_ptr<SegmentWriter> w);

  // Publishes a snapshot under the seqlock. Never blocks on readers.
  void publish(const TransformSnapshot& s);
  const std::string& path() const { return path_; }
  // The epoch found in a segment left by a previous writer (0 if none). A new
  // writer should publish a larger epoch so readers notice the change.
  uint64_t previous_epoch() const { return previous_epoch_; }

 private:
  SegmentWriter(std::string path, int lock_fd, layout::Segment* seg)
      : path_(std::move(path)), lock_fd_(lock_fd), seg_(seg) {}
  std::string path_;
  int lock_fd_ = -1;
  layout::Segment* seg_ = nullptr;
  TransformSnapshot last_{};
  uint64_t previous_epoch_ = 0;
};

}  // namespace timesync
