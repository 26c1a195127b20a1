#ifndef JZ_CRESOLV_SHIM_H
#define JZ_CRESOLV_SHIM_H
// The libc stub resolver (res_nquery with a per-call state, thread-safe) and the
// <arpa/nameser.h> message parser, for DNS TXT lookups (/dnsaddr/ multiaddrs).
// glibc spells res_ninit/res_nclose as macros and ns_msg_count/ns_rr_* as function-like
// macros, which Swift does not import: the inline wrappers below give them plain names.
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <netdb.h>

// The resolver state by a name of its own (Swift's `__res_state()` is the function that
// returns the thread's global state).
typedef struct __res_state jz_res_state;

static inline int jz_res_ninit(res_state state) { return res_ninit(state); }
static inline void jz_res_nclose(res_state state) { res_nclose(state); }
static inline int jz_res_nquery(res_state state, const char *name, int rrclass, int rrtype,
                                unsigned char *answer, int anslen) {
    return res_nquery(state, name, rrclass, rrtype, answer, anslen);
}
static inline int jz_ns_initparse(const unsigned char *msg, int len, ns_msg *handle) {
    return ns_initparse(msg, len, handle);
}
static inline int jz_ns_parserr(ns_msg *handle, ns_sect section, int index, ns_rr *rr) {
    return ns_parserr(handle, section, index, rr);
}
static inline int jz_ns_msg_count(ns_msg handle, ns_sect section) { return ns_msg_count(handle, section); }
static inline int jz_ns_rr_type(ns_rr rr) { return ns_rr_type(rr); }
static inline int jz_ns_rr_rdlen(ns_rr rr) { return ns_rr_rdlen(rr); }
static inline const unsigned char *jz_ns_rr_rdata(ns_rr rr) { return ns_rr_rdata(rr); }

#endif
