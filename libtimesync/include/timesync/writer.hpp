// SegmentWriter - the agent's side of the shared segment.
//
// Exactly one writer per segment: create() takes an exclusive flock on
// "<path>.lock" for the writer's lifetime; a second writer gets kWriterExists
// and a message naming the holder (pid and process name, as the kernel's lock
// table says). The lock file is opened without following a symbolic link and
// accepted only as a regular file of this user with one name (kSymlink,
// kNotRegular, kWrongOwner, kHardLink otherwise), so a link planted in /dev/shm
// cannot make the agent write another file.
//
// Two copies of the segment (segment_layout.hpp): the file at `path`, created
// atomically (initialised in a temporary file, then renamed into place) with
// mode 0644 and written with pwrite only (the writer never maps it, so a
// truncated file cannot kill it with SIGBUS), and a sealed copy served on
// "<path>.sock", which readers map. A valid file left by a previous writer is
// reused in place, so its readers keep working across an agent restart (and
// take the new writer's sealed copy when they next look).
//
// Every publish() first checks the file (still at the path, one name, the
// right size, the bytes last written) and the socket, and repairs what it
// finds: garbage, a wrong version or a truncation are rewritten in place; a
// file removed or replaced is created anew and the old one marked retired, so
// readers still holding it move to the new one by themselves; a missing
// socket is bound again. The report says what happened.
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
namespace share {
class Server;
}

// What publish() found and did about the segment before publishing.
struct PublishReport {
  enum class Outcome {
    kOk,        // as last written
    kRepaired,  // damaged (see what) and repaired: readers get this publication
    kDegraded,  // the socket could not be restored: readers get this publication
                // through the file only (slower); tried again next time
    kFailed,    // damaged and not repairable now (see what): an application
                // opening the path gets no time; tried again next time
  };
  Outcome outcome = Outcome::kOk;
  std::string what;  // for the log: what was found and done; "" when kOk
  bool serving() const { return outcome != Outcome::kFailed; }
};

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

  // Checks (and repairs) the segment, then publishes a snapshot under the
  // seqlock. Never blocks on readers.
  PublishReport publish(const TransformSnapshot& s);
  const std::string& path() const { return path_; }
  // The epoch found in a segment left by a previous writer (0 if none). A new
  // writer should publish a larger epoch so readers notice the change.
  uint64_t previous_epoch() const { return previous_epoch_; }
  // How readers get the segment, for the log: "sealed copy on <path>.sock",
  // or "file only (<why>)".
  std::string sharing() const;

 private:
  SegmentWriter();
  bool open_or_create_file(std::string* why);
  bool create_file(int* fd, const layout::Segment& image, std::string* why);
  bool start_sharing(std::string* why);
  void check_and_repair(PublishReport* r);
  void set_file_flags(uint64_t flags);

  std::string path_;
  int lock_fd_ = -1;
  int file_fd_ = -1;
  std::unique_ptr<layout::Segment> shadow_;  // what the file holds, as last written
  layout::Segment* copy_ = nullptr;          // the sealed copy, mapped read-write
  int copy_fd_ = -1;
  int copy_ro_fd_ = -1;
  std::unique_ptr<share::Server> server_;
  std::string no_sharing_;  // why there is no sealed copy ("" when there is)
  uint64_t instance_ = 0;
  TransformSnapshot last_{};
  uint64_t previous_epoch_ = 0;
};

}  // namespace timesync
