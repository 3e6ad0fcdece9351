/*
 * default-resources: a KRM function in C (WASI preview 1, or native as a
 * kustomize exec function).
 *
 * Every container and init container of every workload (Pod, Deployment,
 * StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) that does not say what it
 * requests gets the fleet's defaults: `resources.requests.cpu` and
 * `resources.requests.memory`, and `resources.limits.memory` when the config
 * names one. Values a container already sets are kept.
 *
 * functionConfig: {cpu: 100m, memory: 128Mi, limitsMemory: 256Mi}, or a
 * ConfigMap with the same keys under `data`. At least one of the three is
 * required.
 *
 * The ResourceList is read as JSON from stdin and written as JSON to stdout.
 * Strings and numbers are kept as the exact text they were read as (escapes
 * included), so whatever the function does not touch is written back as read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small JSON tree ------------------------------------------------- */

enum kind { J_NULL, J_TRUE, J_FALSE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct value {
    enum kind kind;
    char *text;            /* J_NUMBER: its digits; J_STRING: the escaped body */
    size_t len;            /* J_ARRAY / J_OBJECT: how many entries */
    size_t cap;
    char **keys;           /* J_OBJECT: escaped key bodies */
    struct value **items;  /* J_ARRAY / J_OBJECT: the values */
};

struct parser {
    const char *at;
    const char *end;
    const char *error;
    int depth;
};

#define MAX_DEPTH 512

static void *must(void *p) {
    if (!p) {
        fputs("default-resources: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static struct value *new_value(enum kind kind) {
    struct value *v = must(calloc(1, sizeof *v));
    v->kind = kind;
    return v;
}

static void push(struct value *v, char *key, struct value *item) {
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->items = must(realloc(v->items, v->cap * sizeof *v->items));
        if (v->kind == J_OBJECT)
            v->keys = must(realloc(v->keys, v->cap * sizeof *v->keys));
    }
    if (v->kind == J_OBJECT)
        v->keys[v->len] = key;
    v->items[v->len++] = item;
}

static void skip_space(struct parser *p) {
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r'))
        p->at++;
}

static char *copy(const char *from, size_t n) {
    char *s = must(malloc(n + 1));
    memcpy(s, from, n);
    s[n] = 0;
    return s;
}

/* A string body, escapes checked but kept as written. */
static char *parse_string(struct parser *p) {
    const char *start = ++p->at;
    while (p->at < p->end && *p->at != '"') {
        unsigned char c = (unsigned char)*p->at;
        if (c < 0x20) {
            p->error = "a control character in a string";
            return NULL;
        }
        if (c == '\\') {
            p->at++;
            if (p->at >= p->end || !strchr("\"\\/bfnrtu", *p->at)) {
                p->error = "a bad escape in a string";
                return NULL;
            }
        }
        p->at++;
    }
    if (p->at >= p->end) {
        p->error = "an unterminated string";
        return NULL;
    }
    char *s = copy(start, (size_t)(p->at - start));
    p->at++;
    return s;
}

static struct value *parse_value(struct parser *p);

static struct value *parse_container(struct parser *p, enum kind kind, char close) {
    struct value *v = new_value(kind);
    if (++p->depth > MAX_DEPTH) {
        p->error = "nesting deeper than 512 levels";
        return NULL;
    }
    p->at++;
    skip_space(p);
    if (p->at < p->end && *p->at == close) {
        p->at++;
        p->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(p);
        if (kind == J_OBJECT) {
            if (p->at >= p->end || *p->at != '"') {
                p->error = "expected a key";
                return NULL;
            }
            if (!(key = parse_string(p)))
                return NULL;
            skip_space(p);
            if (p->at >= p->end || *p->at != ':') {
                p->error = "expected `:` after a key";
                return NULL;
            }
            p->at++;
        }
        struct value *item = parse_value(p);
        if (!item)
            return NULL;
        push(v, key, item);
        skip_space(p);
        if (p->at < p->end && *p->at == ',') {
            p->at++;
            continue;
        }
        if (p->at < p->end && *p->at == close) {
            p->at++;
            p->depth--;
            return v;
        }
        p->error = kind == J_OBJECT ? "expected `,` or `}`" : "expected `,` or `]`";
        return NULL;
    }
}

static struct value *parse_value(struct parser *p) {
    skip_space(p);
    if (p->at >= p->end) {
        p->error = "unexpected end of input";
        return NULL;
    }
    switch (*p->at) {
    case '{':
        return parse_container(p, J_OBJECT, '}');
    case '[':
        return parse_container(p, J_ARRAY, ']');
    case '"': {
        char *s = parse_string(p);
        if (!s)
            return NULL;
        struct value *v = new_value(J_STRING);
        v->text = s;
        return v;
    }
    }
    static const struct { const char *word; enum kind kind; } words[] = {
        {"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(p->end - p->at) >= n && !memcmp(p->at, words[i].word, n)) {
            p->at += n;
            return new_value(words[i].kind);
        }
    }
    const char *start = p->at;
    while (p->at < p->end && strchr("+-0123456789.eE", *p->at))
        p->at++;
    if (p->at == start) {
        p->error = "unexpected character";
        return NULL;
    }
    struct value *v = new_value(J_NUMBER);
    v->text = copy(start, (size_t)(p->at - start));
    return v;
}

/* ---- writing ----------------------------------------------------------- */

static void write_string(const char *body) {
    putchar('"');
    fputs(body, stdout);
    putchar('"');
}

static void write_value(const struct value *v) {
    switch (v->kind) {
    case J_NULL: fputs("null", stdout); return;
    case J_TRUE: fputs("true", stdout); return;
    case J_FALSE: fputs("false", stdout); return;
    case J_NUMBER: fputs(v->text, stdout); return;
    case J_STRING: write_string(v->text); return;
    case J_ARRAY:
    case J_OBJECT:
        putchar(v->kind == J_ARRAY ? '[' : '{');
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                putchar(',');
            if (v->kind == J_OBJECT) {
                write_string(v->keys[i]);
                putchar(':');
            }
            write_value(v->items[i]);
        }
        putchar(v->kind == J_ARRAY ? ']' : '}');
    }
}

/* ---- lookups ----------------------------------------------------------- */

static struct value *get(const struct value *obj, const char *key) {
    if (!obj || obj->kind != J_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->keys[i], key))
            return obj->items[i];
    return NULL;
}

/* The object under `key`, added when missing; NULL when `key` holds a non-object. */
static struct value *object_at(struct value *obj, const char *key) {
    struct value *v = get(obj, key);
    if (v)
        return v->kind == J_OBJECT ? v : NULL;
    v = new_value(J_OBJECT);
    push(obj, copy(key, strlen(key)), v);
    return v;
}

static void set_if_missing(struct value *obj, const char *key, const struct value *value) {
    if (value && !get(obj, key))
        push(obj, copy(key, strlen(key)), (struct value *)value);
}

/* ---- the function ------------------------------------------------------ */

struct defaults {
    const struct value *cpu, *memory, *limits_memory;
};

static void default_container(struct value *container, const struct defaults *d) {
    if (!container || container->kind != J_OBJECT)
        return;
    struct value *resources = object_at(container, "resources");
    if (!resources)
        return;
    struct value *requests = object_at(resources, "requests");
    if (requests) {
        set_if_missing(requests, "cpu", d->cpu);
        set_if_missing(requests, "memory", d->memory);
    }
    if (d->limits_memory) {
        struct value *limits = object_at(resources, "limits");
        if (limits)
            set_if_missing(limits, "memory", d->limits_memory);
    }
}

static void default_pod_spec(struct value *spec, const struct defaults *d) {
    static const char *lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        struct value *list = get(spec, lists[l]);
        if (!list || list->kind != J_ARRAY)
            continue;
        for (size_t i = 0; i < list->len; i++)
            default_container(list->items[i], d);
    }
}

/* The pod spec of a workload, or NULL for other kinds. */
static struct value *pod_spec(struct value *item) {
    struct value *kind = get(item, "kind");
    if (!kind || kind->kind != J_STRING)
        return NULL;
    const char *k = kind->text;
    struct value *spec = get(item, "spec");
    if (!strcmp(k, "Pod"))
        return spec;
    if (!strcmp(k, "CronJob"))
        spec = get(get(get(spec, "jobTemplate"), "spec"), "template");
    else if (!strcmp(k, "Deployment") || !strcmp(k, "StatefulSet") || !strcmp(k, "DaemonSet") ||
             !strcmp(k, "ReplicaSet") || !strcmp(k, "Job"))
        spec = get(spec, "template");
    else
        return NULL;
    return get(spec, "spec");
}

/* Writes the list with one error result and exits 1. */
static void fail_with_result(struct value *list, const char *message) {
    struct value *results = get(list, "results");
    if (!results || results->kind != J_ARRAY) {
        results = new_value(J_ARRAY);
        push(list, copy("results", 7), results);
    }
    struct value *result = new_value(J_OBJECT);
    struct value *text = new_value(J_STRING), *severity = new_value(J_STRING);
    text->text = copy(message, strlen(message));
    severity->text = copy("error", 5);
    push(result, copy("message", 7), text);
    push(result, copy("severity", 8), severity);
    push(results, NULL, result);
    write_value(list);
    putchar('\n');
    exit(1);
}

static const struct value *config_value(const struct value *config, const char *key) {
    const struct value *v = get(get(config, "data"), key);
    if (!v)
        v = get(config, key);
    return v && v->kind == J_STRING ? v : NULL;
}

int main(void) {
    size_t len = 0, cap = 1 << 16;
    char *input = must(malloc(cap));
    size_t n;
    while ((n = fread(input + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap)
            input = must(realloc(input, cap *= 2));
    }
    struct parser p = {input, input + len, NULL, 0};
    struct value *list = parse_value(&p);
    if (list) {
        skip_space(&p);
        if (p.at != p.end)
            p.error = "trailing characters after the ResourceList";
    }
    if (!list || p.error || list->kind != J_OBJECT) {
        fprintf(stderr, "default-resources: the input is not a JSON ResourceList: %s at byte %ld\n",
                p.error ? p.error : "not an object", (long)(p.at - input));
        return 1;
    }
    const struct value *config = get(list, "functionConfig");
    struct defaults d = {config_value(config, "cpu"), config_value(config, "memory"),
                         config_value(config, "limitsMemory")};
    if (!d.cpu && !d.memory && !d.limits_memory)
        fail_with_result(list, "functionConfig needs at least one of `cpu`, `memory`, "
                               "`limitsMemory` (strings, e.g. 100m, 128Mi)");
    struct value *items = get(list, "items");
    if (items && items->kind == J_ARRAY)
        for (size_t i = 0; i < items->len; i++) {
            struct value *spec = pod_spec(items->items[i]);
            if (spec && spec->kind == J_OBJECT)
                default_pod_spec(spec, &d);
        }
    write_value(list);
    putchar('\n');
    return fflush(stdout) ? 1 : 0;
}
