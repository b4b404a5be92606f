// wordcount@v1: {"text": "..."} -> {"words", "lines", "chars", "top": [{"word", "count"}]}.
// A word is a run of letters, digits, apostrophes or non-ASCII characters; ASCII letters are
// compared case-insensitively. chars counts Unicode code points, lines counts lines (a final line
// without a newline counts), top lists the 10 most frequent words (ties alphabetical).
// Build: clang --target=wasm32-wasi --sysroot=/usr -O2 -o wordcount.wasm wordcount.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (4 << 20)
#define TOP 10

static void fail(const char *message) {
  fprintf(stderr, "wordcount: %s\n", message);
  exit(2);
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static const char *read_hex4(const char *p, unsigned *out) {
  unsigned value = 0;
  for (int i = 0; i < 4; i++) {
    int digit = hex(p[i]);
    if (digit < 0) fail("bad \\u escape");
    value = value * 16 + (unsigned)digit;
  }
  *out = value;
  return p + 4;
}

static char *put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    *out++ = (char)cp;
  } else if (cp < 0x800) {
    *out++ = (char)(0xC0 | (cp >> 6));
    *out++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out++ = (char)(0xE0 | (cp >> 12));
    *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *out++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *out++ = (char)(0xF0 | (cp >> 18));
    *out++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *out++ = (char)(0x80 | (cp & 0x3F));
  }
  return out;
}

// Decodes the JSON string starting after its opening quote into out (in place is fine: the
// decoded form is never longer). Returns the position after the closing quote.
static const char *decode_string(const char *p, char *out, size_t *length) {
  char *start = out;
  while (*p != '"') {
    if (*p == '\0') fail("unterminated string");
    if (*p != '\\') {
      *out++ = *p++;
      continue;
    }
    p++;
    switch (*p++) {
      case '"': *out++ = '"'; break;
      case '\\': *out++ = '\\'; break;
      case '/': *out++ = '/'; break;
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'u': {
        unsigned cp;
        p = read_hex4(p, &cp);
        if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
          unsigned low;
          read_hex4(p + 2, &low);
          if (low >= 0xDC00 && low < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p += 6;
          }
        }
        out = put_utf8(out, cp);
        break;
      }
      default: fail("bad escape");
    }
  }
  *length = (size_t)(out - start);
  return p + 1;
}

// Skips one JSON value (used for keys other than "text").
static const char *skip_value(const char *p) {
  p = skip_ws(p);
  if (*p == '"') {
    for (p++; *p != '"'; p++) {
      if (*p == '\0') fail("unterminated string");
      if (*p == '\\' && p[1] != '\0') p++;
    }
    return p + 1;
  }
  if (*p == '{' || *p == '[') {
    int depth = 0;
    do {
      if (*p == '\0') fail("unterminated value");
      if (*p == '"') {
        p = skip_value(p);
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      if (*p == '}' || *p == ']') depth--;
      p++;
    } while (depth > 0);
    return p;
  }
  while (*p && *p != ',' && *p != '}' && *p != ']') p++;
  return p;
}

struct entry {
  char *word;
  size_t length;
  unsigned count;
};

static struct entry *table;
static size_t capacity, used;

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void grow(void);

static void add_word(char *word, size_t length) {
  if ((used + 1) * 2 > capacity) grow();
  size_t i = hash(word, length) & (capacity - 1);
  while (table[i].word != NULL) {
    if (table[i].length == length && memcmp(table[i].word, word, length) == 0) {
      table[i].count++;
      return;
    }
    i = (i + 1) & (capacity - 1);
  }
  table[i] = (struct entry){word, length, 1};
  used++;
}

static void grow(void) {
  struct entry *old = table;
  size_t old_capacity = capacity;
  capacity = capacity ? capacity * 2 : 1024;
  table = calloc(capacity, sizeof *table);
  if (table == NULL) fail("out of memory");
  used = 0;
  for (size_t i = 0; i < old_capacity; i++) {
    if (old[i].word == NULL) continue;
    size_t j = hash(old[i].word, old[i].length) & (capacity - 1);
    while (table[j].word != NULL) j = (j + 1) & (capacity - 1);
    table[j] = old[i];
    used++;
  }
  free(old);
}

static int by_count(const void *a, const void *b) {
  const struct entry *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  size_t n = x->length < y->length ? x->length : y->length;
  int c = memcmp(x->word, y->word, n);
  if (c != 0) return c;
  return x->length < y->length ? -1 : x->length > y->length;
}

static void print_json_string(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c < 0x20) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' ||
         c >= 0x80;
}

int main(void) {
  // Grown as needed: a fresh instance per call makes every page the guest touches a cost.
  size_t size = 16 << 10, n = 0;
  char *input = malloc(size);
  if (input == NULL) fail("out of memory");
  for (;;) {
    n += fread(input + n, 1, size - n - 1, stdin);
    if (n < size - 1) break;
    if (size >= MAX_INPUT) fail("input too large");
    size *= 2;
    input = realloc(input, size);
    if (input == NULL) fail("out of memory");
  }
  input[n] = '\0';

  const char *p = skip_ws(input);
  if (*p != '{') fail("input must be a JSON object");
  p++;
  char *text = NULL;
  size_t text_length = 0;
  for (;;) {
    p = skip_ws(p);
    if (*p == '}') break;
    if (*p != '"') fail("expected a key");
    char key[16];
    const char *key_start = p + 1;
    const char *after_key = skip_value(p);
    size_t key_length = (size_t)(after_key - key_start - 1);
    snprintf(key, sizeof key, "%.*s", (int)(key_length < 15 ? key_length : 15), key_start);
    p = skip_ws(after_key);
    if (*p != ':') fail("expected ':'");
    p = skip_ws(p + 1);
    if (key_length == 4 && strcmp(key, "text") == 0) {
      if (*p != '"') fail("\"text\" must be a string");
      text = (char *)p + 1;
      p = decode_string(p + 1, text, &text_length);
    } else {
      p = skip_value(p);
    }
    p = skip_ws(p);
    if (*p == ',') p++;
  }
  if (text == NULL) fail("missing \"text\"");

  size_t words = 0, lines = 0, chars = 0;
  for (size_t i = 0; i < text_length; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c & 0xC0) != 0x80) chars++;
    if (c == '\n') lines++;
  }
  if (text_length > 0 && text[text_length - 1] != '\n') lines++;

  for (size_t i = 0; i < text_length;) {
    if (!is_word_byte((unsigned char)text[i])) {
      i++;
      continue;
    }
    size_t start = i;
    while (i < text_length && is_word_byte((unsigned char)text[i])) {
      if (text[i] >= 'A' && text[i] <= 'Z') text[i] = (char)(text[i] - 'A' + 'a');
      i++;
    }
    add_word(text + start, i - start);
    words++;
  }

  size_t distinct = 0;
  for (size_t i = 0; i < capacity; i++) {
    if (table[i].word != NULL) table[distinct++] = table[i];
  }
  qsort(table, distinct, sizeof *table, by_count);

  printf("{\"words\":%zu,\"lines\":%zu,\"chars\":%zu,\"top\":[", words, lines, chars);
  for (size_t i = 0; i < distinct && i < TOP; i++) {
    if (i > 0) putchar(',');
    printf("{\"word\":");
    print_json_string(table[i].word, table[i].length);
    printf(",\"count\":%u}", table[i].count);
  }
  printf("]}\n");
  return 0;
}
