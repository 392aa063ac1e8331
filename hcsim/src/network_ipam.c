/* hcsim computenetwork: addresses. A network's Ipams are checked (prefixes, routes, MAC
 * pool); an endpoint gets the next free IPv4 address of its network's first IPv4 subnet
 * (the network and broadcast addresses and the gateway are never handed out) and the
 * next free MAC of the network's pool, or its own are checked, IPv4 and IPv6 alike
 * (README "Host Compute Network", IPAM). Everything under the lock. */
#include "network_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- address text ---------------------------------------------------------------------- */
int hn_parse_ip4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    if (!s) return 0;
    for (int part = 0; part < 4; part++) {
        unsigned n = 0, digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (digits && n == 0) return 0; /* no leading zeros */
            n = n * 10 + (unsigned)(*s++ - '0');
            if (++digits > 3 || n > 255) return 0;
        }
        if (!digits) return 0;
        v = v << 8 | n;
        if (part < 3 && *s++ != '.') return 0;
    }
    if (*s) return 0;
    *out = v;
    return 1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 4291 text (with "::" and a trailing dotted quad). */
static int parse_ip6(const char *s, uint8_t out[16]) {
    uint16_t g[8];
    int n = 0, gap = -1;
    if (!s || !*s) return 0;
    if (s[0] == ':' && s[1] == ':') {
        gap = 0;
        s += 2;
    } else if (s[0] == ':') {
        return 0;
    }
    while (*s) {
        if (n >= 8) return 0;
        const char *dot = strchr(s, '.');
        if (dot && !strchr(s, ':')) { /* the embedded IPv4 tail */
            uint32_t v4;
            if (n > 6 || !hn_parse_ip4(s, &v4)) return 0;
            g[n++] = (uint16_t)(v4 >> 16);
            g[n++] = (uint16_t)v4;
            s += strlen(s);
            break;
        }
        unsigned v = 0, digits = 0;
        int h;
        while ((h = hexval(*s)) >= 0) {
            if (++digits > 4) return 0;
            v = v << 4 | (unsigned)h;
            s++;
        }
        if (!digits) return 0;
        g[n++] = (uint16_t)v;
        if (!*s) break;
        if (*s++ != ':') return 0;
        if (*s == ':') {
            if (gap >= 0) return 0;
            gap = n;
            s++;
        } else if (!*s) {
            return 0;
        }
    }
    if (gap < 0 && n != 8) return 0;
    if (gap >= 0 && n > 7) return 0;
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, g, sizeof full);
    } else {
        for (int i = 0; i < gap; i++) full[i] = g[i];
        for (int i = gap; i < n; i++) full[8 - (n - i)] = g[i];
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = (uint8_t)(full[i] >> 8);
        out[2 * i + 1] = (uint8_t)full[i];
    }
    return 1;
}

static void format_ip4(uint32_t v, char out[16]) {
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)(v >> 16 & 255),
             (unsigned)(v >> 8 & 255), (unsigned)(v & 255));
}

/* "a.b.c.d/n" (family 4) or "x::/n" (family 6); 0 when it is neither. */
typedef struct prefix {
    int family;
    uint32_t v4;
    uint8_t v6[16];
    unsigned len;
} prefix;

static int parse_prefix(const char *s, prefix *p) {
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || !slash[1]) return 0;
    char addr[64];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof addr) return 0;
    memcpy(addr, s, n);
    addr[n] = 0;
    unsigned len = 0, digits = 0;
    for (const char *c = slash + 1; *c; c++) {
        if (*c < '0' || *c > '9' || ++digits > 3) return 0;
        len = len * 10 + (unsigned)(*c - '0');
    }
    p->len = len;
    if (hn_parse_ip4(addr, &p->v4)) {
        p->family = 4;
        return len <= 32;
    }
    if (parse_ip6(addr, p->v6)) {
        p->family = 6;
        return len <= 128;
    }
    return 0;
}

static uint32_t mask4(unsigned len) { return len ? 0xFFFFFFFFu << (32 - len) : 0; }

static int in6(const prefix *p, const uint8_t a[16]) {
    for (unsigned bit = 0; bit < p->len; bit++) {
        unsigned byte = bit / 8, m = 0x80u >> (bit % 8);
        if ((p->v6[byte] & m) != (a[byte] & m)) return 0;
    }
    return 1;
}

/* ---- MAC addresses ----------------------------------------------------------------------- */
static int parse_mac(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!s || strlen(s) != 17) return 0;
    char sep = s[2];
    if (sep != '-' && sep != ':') return 0;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != sep)) return 0;
        v = v << 8 | (uint64_t)(hi << 4 | lo);
    }
    *out = v;
    return 1;
}

int hn_format_mac(uint64_t mac, char out[18]) {
    return snprintf(out, 18, "%02X-%02X-%02X-%02X-%02X-%02X", (unsigned)(mac >> 40 & 255),
                    (unsigned)(mac >> 32 & 255), (unsigned)(mac >> 24 & 255),
                    (unsigned)(mac >> 16 & 255), (unsigned)(mac >> 8 & 255), (unsigned)(mac & 255));
}

/* ---- networks ----------------------------------------------------------------------------- */
static HRESULT check_routes(const hj_value *routes, const prefix *subnet, const char *where,
                            PWSTR *record) {
    if (routes && hj_typeof(routes) != HJ_ARRAY)
        return hn_fail(record, HCN_E_INVALID_JSON, "%s: Routes must be an array", where);
    for (size_t i = 0; i < hj_count(routes); i++) {
        const hj_value *r = hj_at(routes, i);
        if (hj_typeof(r) != HJ_OBJECT)
            return hn_fail(record, HCN_E_INVALID_JSON, "%s: a route must be an object", where);
        const char *hop = hj_str(hj_get(r, "NextHop"), NULL);
        const char *dest = hj_str(hj_get(r, "DestinationPrefix"), NULL);
        uint32_t v4;
        uint8_t v6[16];
        prefix d;
        if ((hj_get(r, "NextHop") && !hop) || (hj_get(r, "DestinationPrefix") && !dest))
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "%s: NextHop and DestinationPrefix are strings", where);
        if (hop && !hn_parse_ip4(hop, &v4) && !parse_ip6(hop, v6))
            return hn_fail(record, HCN_E_INVALID_IP, "%s: the NextHop %s is not an IP address",
                           where, hop);
        if (dest && !parse_prefix(dest, &d))
            return hn_fail(record, HCN_E_INVALID_IP,
                           "%s: the DestinationPrefix %s is not an IP prefix", where, dest);
        if (hop && subnet && subnet->family == 4 && hn_parse_ip4(hop, &v4) &&
            (v4 & mask4(subnet->len)) != (subnet->v4 & mask4(subnet->len)))
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "%s: the NextHop %s is outside the subnet", where, hop);
    }
    return S_OK;
}

static HRESULT check_mac_pool(hj_value *doc, const char *net_id, PWSTR *record) {
    const hj_value *pool = hj_get(doc, "MacPool");
    if (!pool) {
        /* Hyper-V's own prefix 00-15-5D; the fourth byte from the network's id */
        char lo[18], hi[18];
        uint64_t base = 0x00155D000000ull | (uint64_t)(hexval(net_id[0]) << 4 | hexval(net_id[1]))
                                                << 16;
        hn_format_mac(base, lo);
        hn_format_mac(base | 0xFFFF, hi);
        hj_value *range = hj_new_object(), *ranges = hj_new_array(), *p = hj_new_object();
        hj_set(range, "StartMacAddress", hj_new_string(lo));
        hj_set(range, "EndMacAddress", hj_new_string(hi));
        hj_push(ranges, range);
        hj_set(p, "Ranges", ranges);
        hj_set(doc, "MacPool", p);
        return S_OK;
    }
    const hj_value *ranges = hj_get(pool, "Ranges");
    if (hj_typeof(pool) != HJ_OBJECT || (ranges && hj_typeof(ranges) != HJ_ARRAY))
        return hn_fail(record, HCN_E_INVALID_JSON, "MacPool must be an object with a Ranges array");
    for (size_t i = 0; i < hj_count(ranges); i++) {
        const hj_value *r = hj_at(ranges, i);
        uint64_t a, b;
        if (!parse_mac(hj_str(hj_get(r, "StartMacAddress"), NULL), &a) ||
            !parse_mac(hj_str(hj_get(r, "EndMacAddress"), NULL), &b) || a > b)
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "MacPool: range %u needs a StartMacAddress and an EndMacAddress "
                           "(00-15-5D-00-00-00 form), the start not after the end",
                           (unsigned)i);
    }
    return S_OK;
}

HRESULT hn_ipam_network(hj_value *doc, PWSTR *record) {
    const hj_value *ipams = hj_get(doc, "Ipams");
    if (ipams && hj_typeof(ipams) != HJ_ARRAY)
        return hn_fail(record, HCN_E_INVALID_JSON, "Ipams must be an array");
    for (size_t i = 0; i < hj_count(ipams); i++) {
        const hj_value *ipam = hj_at(ipams, i), *subnets = hj_get(ipam, "Subnets");
        if (hj_typeof(ipam) != HJ_OBJECT || (subnets && hj_typeof(subnets) != HJ_ARRAY) ||
            (hj_get(ipam, "Type") && !hj_str(hj_get(ipam, "Type"), NULL)))
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "Ipams[%u] must be an object with a Type string and a Subnets array",
                           (unsigned)i);
        for (size_t j = 0; j < hj_count(subnets); j++) {
            const hj_value *s = hj_at(subnets, j);
            const char *text = hj_str(hj_get(s, "IpAddressPrefix"), NULL);
            char where[64];
            snprintf(where, sizeof where, "Ipams[%u].Subnets[%u]", (unsigned)i, (unsigned)j);
            prefix p;
            uint64_t flags;
            if (hj_typeof(s) != HJ_OBJECT || !text)
                return hn_fail(record, HCN_E_INVALID_JSON, "%s needs an IpAddressPrefix string",
                               where);
            if (!parse_prefix(text, &p))
                return hn_fail(record, HCN_E_INVALID_IP,
                               "%s: %s is not an IP prefix (address/length)", where, text);
            if (hj_get(s, "Flags") && !hj_uint64(hj_get(s, "Flags"), &flags))
                return hn_fail(record, HCN_E_INVALID_JSON, "%s: Flags must be a number", where);
            if (hj_get(s, "Policies") && hj_typeof(hj_get(s, "Policies")) != HJ_ARRAY)
                return hn_fail(record, HCN_E_INVALID_JSON, "%s: Policies must be an array", where);
            HRESULT hr = check_routes(hj_get(s, "Routes"), &p, where, record);
            if (hr != S_OK) return hr;
        }
    }
    return check_mac_pool(doc, hj_str(hj_get(doc, "ID"), NULL), record);
}

/* ---- endpoints ------------------------------------------------------------------------------ */
/* An IPv6 subnet: its prefix (host bits as written; in6 ignores them) and gateway. */
typedef struct subnet6 {
    prefix p;
    uint8_t gw[16];
    int has_gw, gw_reserved;
    const char *text;
} subnet6;

typedef struct subnet4 {
    uint32_t net, bcast, gw;
    unsigned len;
    int gw_reserved;
    const char *text;
} subnet4;

/* s6's gateway: the first route NextHop inside it, else its first address (::1 of the
 * prefix) when the prefix leaves room for hosts; Flags 1 does not reserve it. */
static void gateway6(subnet6 *s6, const hj_value *s) {
    uint64_t flags = 0;
    hj_uint64(hj_get(s, "Flags"), &flags);
    s6->gw_reserved = !(flags & 1u);
    const hj_value *routes = hj_get(s, "Routes");
    for (size_t k = 0; k < hj_count(routes); k++)
        if (parse_ip6(hj_str(hj_get(hj_at(routes, k), "NextHop"), NULL), s6->gw) &&
            in6(&s6->p, s6->gw)) {
            s6->has_gw = 1;
            return;
        }
    s6->has_gw = s6->p.len <= 126;
    for (unsigned b = 0; b < 16; b++) {
        unsigned keep = s6->p.len >= 8 * (b + 1) ? 8 : s6->p.len > 8 * b ? s6->p.len - 8 * b : 0;
        s6->gw[b] = (uint8_t)(s6->p.v6[b] & (0xFF00u >> keep));
    }
    s6->gw[15] |= 1;
}

/* The network's IPv4 subnets (up to max) and IPv6 ones (up to 8). */
static size_t subnets_of(const hn_obj *net, subnet4 *out, size_t max, subnet6 *v6, size_t *nv6) {
    size_t n = 0, m = 0;
    const hj_value *ipams = hj_get(net->doc, "Ipams");
    for (size_t i = 0; i < hj_count(ipams); i++) {
        const hj_value *subnets = hj_get(hj_at(ipams, i), "Subnets");
        for (size_t j = 0; j < hj_count(subnets); j++) {
            const hj_value *s = hj_at(subnets, j);
            prefix p;
            if (!parse_prefix(hj_str(hj_get(s, "IpAddressPrefix"), NULL), &p)) continue;
            if (p.family == 6) {
                if (m < 8) {
                    v6[m] = (subnet6){.p = p, .text = hj_str(hj_get(s, "IpAddressPrefix"), NULL)};
                    gateway6(&v6[m++], s);
                }
                continue;
            }
            if (n == max) continue;
            subnet4 *o = &out[n++];
            o->len = p.len;
            o->net = p.v4 & mask4(p.len);
            o->bcast = o->net | ~mask4(p.len);
            o->text = hj_str(hj_get(s, "IpAddressPrefix"), NULL);
            uint64_t flags = 0;
            hj_uint64(hj_get(s, "Flags"), &flags);
            o->gw_reserved = !(flags & 1u); /* SubnetFlags DoNotReserveGatewayAddress */
            o->gw = p.len <= 30 ? o->net + 1 : 0;
            const hj_value *routes = hj_get(s, "Routes");
            for (size_t k = 0; k < hj_count(routes); k++) {
                uint32_t hop;
                if (hn_parse_ip4(hj_str(hj_get(hj_at(routes, k), "NextHop"), NULL), &hop) &&
                    (hop & mask4(p.len)) == o->net) {
                    o->gw = hop;
                    break;
                }
            }
        }
    }
    *nv6 = m;
    return n;
}

static const hn_obj *ip_owner(const hn_obj *net, uint32_t ip) {
    for (const hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
        if (e->network == net)
            for (size_t i = 0; i < e->nip4; i++)
                if (e->ip4[i] == ip) return e;
    return NULL;
}

/* The endpoint of net holding the IPv6 address a (its IpConfigurations), or NULL. */
static const hn_obj *ip6_owner(const hn_obj *net, const uint8_t a[16]) {
    for (const hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next) {
        const hj_value *configs = hj_get(e->doc, "IpConfigurations");
        uint8_t b[16];
        if (e->network == net)
            for (size_t i = 0; i < hj_count(configs); i++)
                if (parse_ip6(hj_str(hj_get(hj_at(configs, i), "IpAddress"), NULL), b) &&
                    !memcmp(a, b, 16))
                    return e;
    }
    return NULL;
}

/* Addresses no endpoint can have, on any network: unspecified, loopback, multicast, and
 * IPv4's limited broadcast and reserved 240.0.0.0/4. */
static int special4(uint32_t ip) { return !ip || ip >> 24 == 127 || ip >> 28 >= 14; }

static int special6(const uint8_t a[16]) {
    static const uint8_t zero[15];
    return a[0] == 0xFF || (!memcmp(a, zero, 15) && a[15] <= 1);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The lowest free host address of s (0: none). */
static uint32_t next_free(const hn_obj *net, const subnet4 *s) {
    if (s->len > 30) return 0;
    size_t n = 0, cap = 0;
    uint32_t *used = NULL;
    for (const hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
        if (e->network == net)
            for (size_t i = 0; i < e->nip4; i++) {
                if (e->ip4[i] <= s->net || e->ip4[i] >= s->bcast) continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 16;
                    uint32_t *u = realloc(used, cap * sizeof *u);
                    if (!u) {
                        free(used);
                        return 0;
                    }
                    used = u;
                }
                used[n++] = e->ip4[i];
            }
    if (n) qsort(used, n, sizeof *used, cmp_u32);
    uint32_t cand = s->net + 1;
    size_t k = 0;
    for (; cand < s->bcast; cand++) {
        while (k < n && used[k] < cand) k++;
        if (k < n && used[k] == cand) continue;
        if (s->gw_reserved && cand == s->gw) continue;
        break;
    }
    free(used);
    return cand < s->bcast ? cand : 0;
}

static HRESULT add_ip4(hn_obj *ep, uint32_t ip) {
    uint32_t *n = realloc(ep->ip4, (ep->nip4 + 1) * sizeof *n);
    if (!n) return E_OUTOFMEMORY;
    ep->ip4 = n;
    ep->ip4[ep->nip4++] = ip;
    return S_OK;
}

static hj_value *ip_config(const char *addr, unsigned len) {
    hj_value *c = hj_new_object();
    hj_set(c, "IpAddress", hj_new_string(addr));
    hj_set(c, "PrefixLength", hj_new_uint(len));
    return c;
}

/* Checks one explicit IpConfiguration (c: its object, completed with PrefixLength). */
static HRESULT explicit_ip(hn_obj *ep, hj_value *c, const subnet4 *s4, size_t n4, const subnet6 *v6,
                           size_t n6, size_t i, const hj_value *configs, PWSTR *record) {
    const hn_obj *net = ep->network;
    const char *addr = hj_str(hj_get(c, "IpAddress"), NULL);
    uint64_t plen = 0;
    const hj_value *pl = hj_get(c, "PrefixLength");
    if (!addr || hj_typeof(c) != HJ_OBJECT || (pl && !hj_uint64(pl, &plen)))
        return hn_fail(record, HCN_E_INVALID_JSON,
                       "IpConfigurations[%u] needs an IpAddress string (and a numeric "
                       "PrefixLength)",
                       (unsigned)i);
    uint32_t ip;
    uint8_t a6[16];
    if (hn_parse_ip4(addr, &ip)) {
        if (pl && plen > 32)
            return hn_fail(record, HCN_E_INVALID_IP, "IpConfigurations[%u]: PrefixLength %u",
                           (unsigned)i, (unsigned)plen);
        const subnet4 *s = NULL;
        if (special4(ip))
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is not a unicast host address", addr);
        for (size_t k = 0; k < n4 && !s; k++)
            if ((ip & mask4(s4[k].len)) == s4[k].net) s = &s4[k];
        if (!s && n4)
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is in no subnet of network %s", addr, net->id);
        if (!n4 && n6)
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is IPv4 and network %s has no IPv4 subnet", addr,
                           net->id);
        if (s && s->len <= 30 && (ip == s->net || ip == s->bcast))
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is the network or broadcast address of %s", addr,
                           s->text);
        if (s && s->gw_reserved && ip == s->gw)
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is the gateway of %s", addr, s->text);
        const hn_obj *owner = ip_owner(net, ip);
        for (size_t k = 0; k < ep->nip4 && !owner; k++)
            if (ep->ip4[k] == ip) owner = ep;
        if (owner)
            return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                           "The address %s is in use by endpoint %s on network %s", addr, owner->id,
                           net->id);
        if (!pl) hj_set(c, "PrefixLength", hj_new_uint(s ? s->len : 32));
        return add_ip4(ep, ip);
    }
    if (!parse_ip6(addr, a6))
        return hn_fail(record, HCN_E_INVALID_IP, "IpConfigurations[%u]: %s is not an IP address",
                       (unsigned)i, addr);
    if (pl && plen > 128)
        return hn_fail(record, HCN_E_INVALID_IP, "IpConfigurations[%u]: PrefixLength %u",
                       (unsigned)i, (unsigned)plen);
    const subnet6 *s = NULL;
    if (special6(a6))
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is not a unicast host address", addr);
    for (size_t k = 0; k < n6 && !s; k++)
        if (in6(&v6[k].p, a6)) s = &v6[k];
    if (!s && n6)
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is in no subnet of network %s", addr, net->id);
    if (!n6 && n4)
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is IPv6 and network %s has no IPv6 subnet", addr, net->id);
    prefix host = s ? s->p : (prefix){0};
    host.len = 128; /* in6 against host: a6 equals the prefix with its host part zero */
    for (unsigned bit = s ? s->p.len : 128; bit < 128; bit++)
        host.v6[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    if (s && s->p.len <= 126 && in6(&host, a6))
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is the subnet-router anycast address of %s", addr, s->text);
    if (s && s->has_gw && s->gw_reserved && !memcmp(a6, s->gw, 16))
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is the gateway of %s", addr, s->text);
    const hn_obj *owner = ip6_owner(net, a6);
    for (size_t k = 0; k < i && !owner; k++) {
        uint8_t b[16];
        if (parse_ip6(hj_str(hj_get(hj_at(configs, k), "IpAddress"), NULL), b) &&
            !memcmp(a6, b, 16))
            owner = ep;
    }
    if (owner)
        return hn_fail(record, HCN_E_ADDR_INVALID_OR_RESERVED,
                       "The address %s is in use by endpoint %s on network %s", addr, owner->id,
                       net->id);
    if (!pl) hj_set(c, "PrefixLength", hj_new_uint(s ? s->p.len : 128));
    return S_OK;
}

static HRESULT endpoint_mac(hn_obj *ep, hj_value *doc, PWSTR *record) {
    const hj_value *m = hj_get(doc, "MacAddress");
    if (m) {
        if (!parse_mac(hj_str(m, NULL), &ep->mac))
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "MacAddress %s is not a MAC address (00-15-5D-00-00-00 form)",
                           hj_str(m, NULL) ? hj_str(m, NULL) : "(not a string)");
    } else {
        const hj_value *ranges = hj_get(hj_get(ep->network->doc, "MacPool"), "Ranges");
        int found = 0;
        for (size_t i = 0; i < hj_count(ranges) && !found; i++) {
            uint64_t a = 0, b = 0;
            parse_mac(hj_str(hj_get(hj_at(ranges, i), "StartMacAddress"), NULL), &a);
            parse_mac(hj_str(hj_get(hj_at(ranges, i), "EndMacAddress"), NULL), &b);
            for (uint64_t c = a; c <= b && !found; c++) {
                int used = 0;
                for (const hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e && !used; e = e->next)
                    used = e->network == ep->network && e->mac == c;
                if (!used) {
                    ep->mac = c;
                    found = 1;
                }
            }
        }
        if (!found)
            return hn_fail(record, HN_E_EXHAUSTED, "The MAC pool of network %s is exhausted",
                           ep->network->id);
    }
    char text[18];
    hn_format_mac(ep->mac, text);
    hj_set(doc, "MacAddress", hj_new_string(text));
    return S_OK;
}

HRESULT hn_ipam_endpoint(hn_obj *ep, hj_value *doc, PWSTR *record) {
    subnet4 s4[16];
    subnet6 v6[8];
    size_t n6 = 0, n4 = subnets_of(ep->network, s4, 16, v6, &n6);
    hj_value *configs = (hj_value *)hj_get(doc, "IpConfigurations");
    HRESULT hr = S_OK;
    if (configs && hj_typeof(configs) != HJ_ARRAY)
        return hn_fail(record, HCN_E_INVALID_JSON, "IpConfigurations must be an array");
    for (size_t i = 0; hr == S_OK && i < hj_count(configs); i++)
        hr = explicit_ip(ep, (hj_value *)hj_at(configs, i), s4, n4, v6, n6, i, configs, record);
    if (hr == S_OK && !hj_count(configs) && n4) {
        uint32_t ip = next_free(ep->network, &s4[0]);
        char text[16];
        if (!ip)
            return hn_fail(record, HN_E_EXHAUSTED,
                           "No free address is left in subnet %s of network %s", s4[0].text,
                           ep->network->id);
        format_ip4(ip, text);
        hj_value *list = hj_new_array();
        hj_push(list, ip_config(text, s4[0].len));
        hj_set(doc, "IpConfigurations", list);
        hr = add_ip4(ep, ip);
    }
    if (hr == S_OK) hr = endpoint_mac(ep, doc, record);
    if (hr == S_OK && !hj_get(doc, "Routes") && ep->nip4) {
        const subnet4 *s = NULL;
        for (size_t k = 0; k < n4 && !s; k++)
            if ((ep->ip4[0] & mask4(s4[k].len)) == s4[k].net && s4[k].gw) s = &s4[k];
        if (s) {
            char gw[16];
            format_ip4(s->gw, gw);
            hj_value *r = hj_new_object(), *routes = hj_new_array();
            hj_set(r, "NextHop", hj_new_string(gw));
            hj_set(r, "DestinationPrefix", hj_new_string("0.0.0.0/0"));
            hj_push(routes, r);
            hj_set(doc, "Routes", routes);
        }
    } else if (hr == S_OK) {
        hr = check_routes(hj_get(doc, "Routes"), NULL, "endpoint", record);
    }
    if (hr != S_OK) {
        free(ep->ip4);
        ep->ip4 = NULL;
        ep->nip4 = 0;
    }
    return hr;
}

int hn_ip_text_valid(const char *s) {
    uint32_t v4;
    uint8_t v6[16];
    return s && (hn_parse_ip4(s, &v4) || parse_ip6(s, v6));
}
