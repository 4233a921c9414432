// A datagram-preserving BIO for one DTLS session. It never touches a socket:
//  - write: one OpenSSL write is one outgoing datagram, appended to the
//    session's output arena (a flight is never concatenated into one blob);
//  - read: hands OpenSSL exactly the one inbound datagram the session is
//    processing, then reports "retry" until the next one is offered.
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <sys/socket.h>

namespace dtls {

// A block JavaScript handed over (setOutputPool) that a step's output items
// are copied into at increasing offsets; JS makes its Buffers as views of it.
// Bytes once written are never written again: JS may hand the views out.
struct OutputPool {
  uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  // Room for n bytes (8-aligned): the write position and its offset, or nullptr when it does not fit.
  uint8_t* Alloc(size_t n, size_t* at) {
    if (data == nullptr || n > size - offset) return nullptr;
    *at = offset;
    size_t next = (offset + n + 7) & ~static_cast<size_t>(7);
    offset = next < size ? next : size;
    return data + *at;
  }
};

// One step's output: datagrams and plaintexts back to back, described by
// items. It writes into a fixed block that JavaScript can see (the env's step
// buffer) while the step fits; a step that outgrows it continues in a heap
// block, which is then handed over as a Buffer of its own.
class Arena {
 public:
  enum Kind : uint32_t { kDatagram = 0, kMessage = 1 };
  // An item whose bytes went straight to an output pool (see SetDatagramPool):
  // kind | kPooled, and its offset is in the pool, not in the arena.
  static constexpr uint32_t kPooled = 2;
  struct Item {
    uint32_t kind;
    uint32_t offset;
    uint32_t length;
  };

  Arena() = default;
  ~Arena() { std::free(heap_); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // The fixed block (owned elsewhere; must outlive the arena's use of it).
  void AttachExternal(uint8_t* block, size_t capacity);
  // Datagrams are written once, into the datagram output pool, instead of
  // into the arena and then copied there (only the env's main-thread arena:
  // a thread-pool job's arena must not touch what JS can see).
  void SetDatagramPool(OutputPool* pool) { pool_ = pool; }
  // An item's bytes, wherever they were written.
  const uint8_t* ItemData(const Item& it) const { return ((it.kind & kPooled) != 0 ? pool_->data : data_) + it.offset; }

  // Reserves room for n more bytes; returns the write position.
  uint8_t* Reserve(size_t n);
  void Commit(Kind kind, size_t n);
  void Append(Kind kind, const uint8_t* p, size_t n);

  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }
  const std::vector<Item>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // True when this step's bytes are not in the fixed block.
  bool overflowed() const { return data_ != external_; }
  // Empties the arena and returns to the fixed block (a large heap block is freed).
  void Clear();

 private:
  uint8_t* external_ = nullptr;
  size_t external_cap_ = 0;
  uint8_t* heap_ = nullptr;
  size_t heap_cap_ = 0;
  uint8_t* data_ = nullptr;
  size_t cap_ = 0;
  size_t size_ = 0;
  std::vector<Item> items_;
  OutputPool* pool_ = nullptr;  // where datagrams go, if set
};

struct DatagramBioState {
  Arena* out = nullptr;            // where outgoing datagrams go
  uint64_t* datagrams_out = nullptr;
  uint64_t* bytes_out = nullptr;
  const uint8_t* in_data = nullptr;  // the inbound datagram being processed
  size_t in_len = 0;
  bool in_pending = false;
  long mtu = 1200;
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
};

// The method is created once per process, thread-safely, and never freed.
const BIO_METHOD* DatagramBioMethod();
// A new BIO whose data pointer is `state` (owned by the caller, which must
// outlive the BIO). Returns nullptr on allocation failure (queue set).
BIO* NewDatagramBio(DatagramBioState* state);

}  // namespace dtls
