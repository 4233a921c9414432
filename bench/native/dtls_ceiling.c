/*
 * The ceiling: OpenSSL driven directly over in-memory datagram queues, both
 * ends in one thread, no JavaScript, no N-API. bench/run.js runs it in the
 * same run as the library and prints the library's figures as ratios to it.
 *
 *   dtls_ceiling CERT.pem KEY.pem handshakes N   full handshakes (shared SSL_CTX per side, no resumption)
 *   dtls_ceiling CERT.pem KEY.pem records N      N 1200-byte records client -> server on one session
 *   dtls_ceiling CERT.pem KEY.pem memory N       N established idle pairs: bytes per session
 *
 * Each prints one JSON object on stdout. The configuration is the library's
 * default (src/ + native/context_handle.cc): DTLS 1.2 only, its default AEAD
 * cipher list, OpenSSL's default groups (X25519 first), extended master
 * secret, SSL_OP_NO_RENEGOTIATION, session tickets issued but never used,
 * SSL_OP_NO_QUERY_MTU with a 1200-byte MTU, the client verifying the
 * server's certificate against a one-certificate store (the same certificate
 * as `ca` in the JavaScript benchmark), the server asking for no client
 * certificate. One BIO write is one datagram; one BIO read returns exactly
 * one datagram, as in native/datagram_bio.cc.
 */
#define _GNU_SOURCE
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MTU 1200
#define RECORD_PAYLOAD 1200
#define MAX_DATAGRAM (16384 + 2048)
#define QUEUE_SLOTS 64

static const char *kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void die(const char *what) {
  fprintf(stderr, "dtls_ceiling: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

/* ---- allocation accounting (memory mode only) ----------------------------- */

static size_t g_live_bytes;

static void *count_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  void *p = malloc(n);
  if (p != NULL) g_live_bytes += malloc_usable_size(p);
  return p;
}

static void *count_realloc(void *p, size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  size_t old = p != NULL ? malloc_usable_size(p) : 0;
  void *q = realloc(p, n);
  if (q != NULL) {
    g_live_bytes -= old;
    g_live_bytes += malloc_usable_size(q);
  } else if (n == 0) {
    g_live_bytes -= old;
  }
  return q;
}

static void count_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  if (p != NULL) g_live_bytes -= malloc_usable_size(p);
  free(p);
}

static long rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f == NULL) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

/* ---- a datagram queue per direction and a BIO over it --------------------- */

/* Slots grow on first use and are freed when the queue drains in memory mode,
 * so an idle pair holds no queue memory. */
typedef struct {
  unsigned char *slot[QUEUE_SLOTS];
  size_t len[QUEUE_SLOTS];
  unsigned head, count;
} queue_t;

typedef struct {
  queue_t *in;  /* what this end reads */
  queue_t *out; /* what this end writes */
} endpoint_t;

static int g_release_slots; /* memory mode: free a slot once it is read */

static void queue_push(queue_t *q, const void *p, size_t n) {
  if (q->count == QUEUE_SLOTS || n > MAX_DATAGRAM) die("datagram queue overflow");
  unsigned i = (q->head + q->count) % QUEUE_SLOTS;
  if (q->slot[i] == NULL) {
    q->slot[i] = malloc(MAX_DATAGRAM);
    if (q->slot[i] == NULL) die("out of memory");
  }
  memcpy(q->slot[i], p, n);
  q->len[i] = n;
  q->count++;
}

static void queue_free(queue_t *q) {
  for (unsigned i = 0; i < QUEUE_SLOTS; i++) {
    free(q->slot[i]);
    q->slot[i] = NULL;
  }
  q->head = q->count = 0;
}

static int bio_write(BIO *b, const char *data, int len) {
  endpoint_t *e = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  queue_push(e->out, data, (size_t)len);
  return len;
}

static int bio_read(BIO *b, char *buf, int size) {
  endpoint_t *e = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  queue_t *q = e->in;
  if (q->count == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  unsigned i = q->head;
  size_t n = q->len[i] < (size_t)size ? q->len[i] : (size_t)size;
  memcpy(buf, q->slot[i], n);
  if (g_release_slots) {
    free(q->slot[i]);
    q->slot[i] = NULL;
  }
  q->head = (q->head + 1) % QUEUE_SLOTS;
  q->count--;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_WPENDING:
      return 0;
    case BIO_CTRL_PENDING: {
      endpoint_t *e = BIO_get_data(b);
      return e->in->count > 0 ? (long)e->in->len[e->in->head] : 0;
    }
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
    case BIO_CTRL_DGRAM_GET_MTU:
      return MTU;
    case BIO_CTRL_DGRAM_SET_MTU:
      return num;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
    case BIO_CTRL_DGRAM_MTU_EXCEEDED:
    case BIO_CTRL_DGRAM_GET_PEER:
    case BIO_CTRL_EOF:
      return 0;
    case BIO_CTRL_DGRAM_SET_PEER:
    case BIO_CTRL_DGRAM_CONNECT:
    case BIO_CTRL_DGRAM_SET_CONNECTED:
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
    case BIO_CTRL_DGRAM_SET_DONT_FRAG:
    case BIO_CTRL_RESET:
      return 1;
    default:
      return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static BIO_METHOD *g_method;

static BIO *new_bio(endpoint_t *e) {
  BIO *b = BIO_new(g_method);
  if (b == NULL) die("BIO_new");
  BIO_set_data(b, e);
  return b;
}

/* ---- contexts and pairs ---------------------------------------------------- */

static int accept_verified(int ok, X509_STORE_CTX *store) {
  (void)store;
  return ok;
}

static SSL_CTX *make_ctx(int server, const char *cert, const char *key) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (ctx == NULL) die("SSL_CTX_new");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"openssl-dtls", 12);
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers) != 1) die("cipher list");
  if (server) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die("certificate");
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die("key");
    if (SSL_CTX_check_private_key(ctx) != 1) die("key mismatch");
  } else {
    if (SSL_CTX_load_verify_locations(ctx, cert, NULL) != 1) die("ca");
  }
  return ctx;
}

typedef struct {
  queue_t c2s, s2c;
  endpoint_t ce, se;
  SSL *client, *server;
} pair_t;

static void pair_init(pair_t *p, SSL_CTX *cctx, SSL_CTX *sctx) {
  memset(p, 0, sizeof(*p));
  p->ce.in = &p->s2c;
  p->ce.out = &p->c2s;
  p->se.in = &p->c2s;
  p->se.out = &p->s2c;
  p->client = SSL_new(cctx);
  p->server = SSL_new(sctx);
  if (p->client == NULL || p->server == NULL) die("SSL_new");
  SSL *both[2] = {p->client, p->server};
  endpoint_t *ends[2] = {&p->ce, &p->se};
  for (int i = 0; i < 2; i++) {
    BIO *b = new_bio(ends[i]);
    SSL_set_bio(both[i], b, b);
    SSL_set_options(both[i], SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(both[i], MTU);
    DTLS_set_link_mtu(both[i], MTU);
  }
  SSL_set_verify(p->client, SSL_VERIFY_PEER, accept_verified);
  SSL_set_verify(p->server, SSL_VERIFY_NONE, NULL);
  SSL_set_connect_state(p->client);
  SSL_set_accept_state(p->server);
}

static void pair_free(pair_t *p) {
  SSL_free(p->client);
  SSL_free(p->server);
  queue_free(&p->c2s);
  queue_free(&p->s2c);
}

/* Feeds one end everything queued for it, one datagram per call, as the
 * library does: SSL_do_handshake until connected, then SSL_read. */
static int drive(SSL *ssl, queue_t *in) {
  unsigned char buf[16384];
  int progressed = 0;
  while (in->count > 0) {
    progressed = 1;
    if (!SSL_is_init_finished(ssl)) {
      int r = SSL_do_handshake(ssl);
      if (r <= 0) {
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) die("handshake failed");
      }
    } else {
      int r = SSL_read(ssl, buf, sizeof(buf));
      if (r <= 0) {
        int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ) die("SSL_read failed");
      }
    }
  }
  return progressed;
}

static void handshake(pair_t *p) {
  int r = SSL_do_handshake(p->client);
  if (r <= 0 && SSL_get_error(p->client, r) != SSL_ERROR_WANT_READ) die("client start");
  for (int rounds = 0; rounds < 64; rounds++) {
    int a = drive(p->server, &p->c2s);
    int b = drive(p->client, &p->s2c);
    if (!a && !b) break;
  }
  if (!SSL_is_init_finished(p->client) || !SSL_is_init_finished(p->server)) die("handshake did not finish");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *negotiated(SSL *s) {
  static char out[160];
  snprintf(out, sizeof(out), "%s %s", SSL_get_version(s), SSL_get_cipher_name(s));
  return out;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem handshakes|records|memory N\n", argv[0]);
    return 2;
  }
  const char *cert = argv[1], *key = argv[2], *mode = argv[3];
  long n = strtol(argv[4], NULL, 10);
  if (n <= 0) die("N must be positive");
  int memory_mode = strcmp(mode, "memory") == 0;
  if (memory_mode) {
    /* Before OpenSSL allocates anything. */
    if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) die("CRYPTO_set_mem_functions");
    g_release_slots = 1;
  }

  g_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ceiling datagram");
  if (g_method == NULL) die("BIO_meth_new");
  BIO_meth_set_write(g_method, bio_write);
  BIO_meth_set_read(g_method, bio_read);
  BIO_meth_set_ctrl(g_method, bio_ctrl);
  BIO_meth_set_create(g_method, bio_create);

  SSL_CTX *sctx = make_ctx(1, cert, key);
  SSL_CTX *cctx = make_ctx(0, cert, key);

  /* Warm-up: first use loads providers, builds method tables, etc. */
  pair_t warm;
  pair_init(&warm, cctx, sctx);
  handshake(&warm);
  char suite[160];
  snprintf(suite, sizeof(suite), "%s", negotiated(warm.client));
  pair_free(&warm);

  const char *version = OpenSSL_version(OPENSSL_VERSION);
  if (strcmp(mode, "handshakes") == 0) {
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
      pair_t p;
      pair_init(&p, cctx, sctx);
      handshake(&p);
      pair_free(&p);
    }
    double secs = now_s() - t0;
    printf("{\"mode\":\"handshakes\",\"n\":%ld,\"seconds\":%.6f,\"perSecond\":%.1f,\"negotiated\":\"%s\",\"openssl\":\"%s\"}\n",
           n, secs, (double)n / secs, suite, version);
  } else if (strcmp(mode, "records") == 0) {
    pair_t p;
    pair_init(&p, cctx, sctx);
    handshake(&p);
    unsigned char payload[RECORD_PAYLOAD];
    unsigned char buf[16384];
    memset(payload, 7, sizeof(payload));
    long got = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
      if (SSL_write(p.client, payload, sizeof(payload)) != (int)sizeof(payload)) die("SSL_write");
      while (p.c2s.count > 0) {
        int r = SSL_read(p.server, buf, sizeof(buf));
        if (r == (int)sizeof(payload)) got++;
        else if (r <= 0 && SSL_get_error(p.server, r) != SSL_ERROR_WANT_READ) die("SSL_read");
      }
    }
    double secs = now_s() - t0;
    if (got != n) die("records lost");
    printf("{\"mode\":\"records\",\"n\":%ld,\"seconds\":%.6f,\"perSecond\":%.1f,\"payload\":%d,\"negotiated\":\"%s\",\"openssl\":\"%s\"}\n",
           n, secs, (double)n / secs, RECORD_PAYLOAD, suite, version);
    pair_free(&p);
  } else if (memory_mode) {
    pair_t *pairs = calloc((size_t)n, sizeof(pair_t));
    if (pairs == NULL) die("out of memory");
    malloc_trim(0);
    size_t live0 = g_live_bytes;
    struct mallinfo2 m0 = mallinfo2();
    long rss0 = rss_bytes();
    for (long i = 0; i < n; i++) {
      pair_init(&pairs[i], cctx, sctx);
      handshake(&pairs[i]);
    }
    size_t live1 = g_live_bytes;
    struct mallinfo2 m1 = mallinfo2();
    long rss1 = rss_bytes();
    double sessions = 2.0 * (double)n;
    printf("{\"mode\":\"memory\",\"pairs\":%ld,\"opensslBytesPerSession\":%.0f,\"heapBytesPerSession\":%.0f,"
           "\"rssBytesPerSession\":%.0f,\"negotiated\":\"%s\",\"openssl\":\"%s\"}\n",
           n, (double)(live1 - live0) / sessions, (double)(m1.uordblks - m0.uordblks) / sessions,
           (double)(rss1 - rss0) / sessions, suite, version);
    for (long i = 0; i < n; i++) pair_free(&pairs[i]);
    free(pairs);
  } else {
    die("mode must be handshakes, records or memory");
  }
  SSL_CTX_free(cctx);
  SSL_CTX_free(sctx);
  BIO_meth_free(g_method);
  return 0;
}
