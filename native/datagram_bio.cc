#include "datagram_bio.h"

#include <cstring>
#include <mutex>
#include <new>

namespace dtls {

void Arena::AttachExternal(uint8_t* block, size_t capacity) {
  external_ = block;
  external_cap_ = capacity;
  Clear();
}

uint8_t* Arena::Reserve(size_t n) {
  if (cap_ - size_ >= n) return data_ + size_;
  size_t want = cap_ < 65536 ? 65536 : cap_ * 2;
  while (want - size_ < n) want *= 2;
  if (data_ == heap_ && heap_ != nullptr) {
    void* p = std::realloc(heap_, want);
    if (p == nullptr) throw std::bad_alloc();
    heap_ = static_cast<uint8_t*>(p);
  } else {
    // Leaving the fixed block (or starting without one): move to the heap.
    if (heap_cap_ < want) {
      std::free(heap_);
      heap_ = static_cast<uint8_t*>(std::malloc(want));
      if (heap_ == nullptr) {
        heap_cap_ = 0;
        throw std::bad_alloc();
      }
    } else {
      want = heap_cap_;
    }
    if (size_ > 0) std::memcpy(heap_, data_, size_);
  }
  heap_cap_ = want;
  data_ = heap_;
  cap_ = want;
  return data_ + size_;
}

void Arena::Commit(Kind kind, size_t n) {
  items_.push_back({kind, static_cast<uint32_t>(size_), static_cast<uint32_t>(n)});
  size_ += n;
}

void Arena::Append(Kind kind, const uint8_t* p, size_t n) {
  if (kind == kDatagram && pool_ != nullptr && n > 0) {
    size_t at = 0;
    uint8_t* direct = pool_->Alloc(n, &at);
    if (direct != nullptr) {
      std::memcpy(direct, p, n);
      items_.push_back({kind | kPooled, static_cast<uint32_t>(at), static_cast<uint32_t>(n)});
      return;
    }
  }
  uint8_t* dst = Reserve(n);
  if (n > 0) std::memcpy(dst, p, n);
  Commit(kind, n);
}

void Arena::Clear() {
  size_ = 0;
  items_.clear();
  if (heap_cap_ > (1u << 20)) {
    std::free(heap_);
    heap_ = nullptr;
    heap_cap_ = 0;
  }
  if (external_ != nullptr) {
    data_ = external_;
    cap_ = external_cap_;
  } else {
    data_ = heap_;
    cap_ = heap_cap_;
  }
}

namespace {

DatagramBioState* StateOf(BIO* b) {
  return static_cast<DatagramBioState*>(BIO_get_data(b));
}

// Length of the whole DTLS record starting at p, or 0 if p..end is not one.
size_t RecordLength(const uint8_t* p, const uint8_t* end) {
  if (end - p < 13) return 0;
  size_t n = 13 + ((static_cast<size_t>(p[11]) << 8) | p[12]);
  return static_cast<size_t>(end - p) >= n ? n : 0;
}

void EmitDatagram(DatagramBioState* s, const uint8_t* p, size_t n) {
  s->out->Append(Arena::kDatagram, p, n);
  if (s->datagrams_out != nullptr) (*s->datagrams_out)++;
  if (s->bytes_out != nullptr) (*s->bytes_out) += static_cast<uint64_t>(n);
}

int BioWrite(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  DatagramBioState* s = StateOf(b);
  if (s == nullptr || s->out == nullptr || len < 0) return -1;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(data);
  const uint8_t* end = p + len;
  try {
    if (s->mtu <= 0 || len <= s->mtu) {
      EmitDatagram(s, p, static_cast<size_t>(len));
      return len;
    }
    // OpenSSL packs a flight's records into one write against its MTU, but
    // does not count an encrypted record's AEAD overhead when it packs (e.g.
    // NewSessionTicket + CCS + Finished at small MTUs). Split such a write at
    // record boundaries so no handshake datagram exceeds the MTU. A single
    // record larger than the MTU (application data above maxPayload) stays
    // whole: DTLS cannot fragment it.
    const uint8_t* start = p;
    const uint8_t* cur = p;
    while (cur < end) {
      size_t rec = RecordLength(cur, end);
      if (rec == 0) {  // not record-framed: pass through untouched
        EmitDatagram(s, start, static_cast<size_t>(end - start));
        return len;
      }
      if (cur > start && static_cast<long>(cur + rec - start) > s->mtu) {
        EmitDatagram(s, start, static_cast<size_t>(cur - start));
        start = cur;
      }
      cur += rec;
    }
    if (cur > start) EmitDatagram(s, start, static_cast<size_t>(cur - start));
  } catch (const std::bad_alloc&) {
    return -1;
  }
  return len;
}

int BioRead(BIO* b, char* buf, int size) {
  BIO_clear_retry_flags(b);
  DatagramBioState* s = StateOf(b);
  if (s == nullptr || !s->in_pending || buf == nullptr || size < 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  // One datagram per read. A datagram larger than OpenSSL's buffer is cut,
  // exactly as recvfrom() would; the DTLS record layer then drops it.
  size_t n = s->in_len < static_cast<size_t>(size) ? s->in_len : static_cast<size_t>(size);
  if (n > 0) std::memcpy(buf, s->in_data, n);
  s->in_pending = false;
  s->in_data = nullptr;
  s->in_len = 0;
  return static_cast<int>(n);
}

int BioPuts(BIO* b, const char* str) {
  return BioWrite(b, str, static_cast<int>(std::strlen(str)));
}

long BioCtrl(BIO* b, int cmd, long num, void* ptr) {
  DatagramBioState* s = StateOf(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_WPENDING:
      // Every write is already a whole datagram: nothing is pending, so
      // OpenSSL sizes each record against the full MTU.
      return 0;
    case BIO_CTRL_PENDING:
      return (s != nullptr && s->in_pending) ? static_cast<long>(s->in_len) : 0;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return s != nullptr ? s->mtu : 0;
    case BIO_CTRL_DGRAM_SET_MTU:
      if (s != nullptr) s->mtu = num;
      return num;
    case BIO_CTRL_DGRAM_GET_MTU:
      return s != nullptr ? s->mtu : 0;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
      // The session's mtu is the UDP payload size: no IP/UDP overhead to add.
      return 0;
    case BIO_CTRL_DGRAM_MTU_EXCEEDED:
      return 0;
    case BIO_CTRL_DGRAM_GET_PEER:
      if (s == nullptr || ptr == nullptr) return 0;
      if (s->peer_len == 0) return 0;
      std::memcpy(ptr, &s->peer, s->peer_len);
      return s->peer_len;
    case BIO_CTRL_DGRAM_SET_PEER:
    case BIO_CTRL_DGRAM_CONNECT:
    case BIO_CTRL_DGRAM_SET_CONNECTED:
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
    case BIO_CTRL_DGRAM_SET_DONT_FRAG:
      return 1;
    case BIO_CTRL_RESET:
      if (s != nullptr) {
        s->in_pending = false;
        s->in_data = nullptr;
        s->in_len = 0;
      }
      return 1;
    case BIO_CTRL_EOF:
      return 0;
    case BIO_CTRL_GET_CLOSE:
      return BIO_get_shutdown(b);
    case BIO_CTRL_SET_CLOSE:
      BIO_set_shutdown(b, static_cast<int>(num));
      return 1;
    default:
      return 0;
  }
}

int BioCreate(BIO* b) {
  BIO_set_init(b, 1);
  BIO_set_data(b, nullptr);
  return 1;
}

int BioDestroy(BIO* b) {
  if (b == nullptr) return 0;
  BIO_set_data(b, nullptr);  // the state belongs to the session
  return 1;
}

BIO_METHOD* g_method = nullptr;
std::once_flag g_method_once;

}  // namespace

const BIO_METHOD* DatagramBioMethod() {
  std::call_once(g_method_once, [] {
    int type = BIO_get_new_index();
    if (type == -1) return;
    BIO_METHOD* m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "openssl-dtls datagram");
    if (m == nullptr) return;
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_puts(m, BioPuts);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    BIO_meth_set_destroy(m, BioDestroy);
    g_method = m;
  });
  return g_method;
}

BIO* NewDatagramBio(DatagramBioState* state) {
  const BIO_METHOD* m = DatagramBioMethod();
  if (m == nullptr) return nullptr;
  BIO* b = BIO_new(m);
  if (b == nullptr) return nullptr;
  BIO_set_data(b, state);
  return b;
}

}  // namespace dtls
