/* ref/config.c's text parser: the input as the "config" metadata of a model file, one
 * "key=value" per line into lv_config_set, then lv_config_validate. A configuration that
 * validates must survive lv_config_format and parse back to the same text, since a checkpoint
 * stores exactly that text. */
#include "config.h"
#include "fuzz.h"

#define MAX_TEXT 8192

static void parse(lv_config *c, char *text, int *ok)
{
    *ok = lv_config_preset(c, "tiny") == 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && *ok;
         l = strtok_r(NULL, "\n", &save))
        *ok = lv_config_set(c, l) == 0;
    *ok = *ok && lv_config_validate(c) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= MAX_TEXT)
        return 0;
    static char text[MAX_TEXT], once[MAX_TEXT], twice[MAX_TEXT];
    memcpy(text, data, size);
    text[size] = '\0';
    lv_config c, d;
    int ok;
    parse(&c, text, &ok);
    if (!ok)
        return 0;
    const size_t n = lv_config_format(&c, once, sizeof once);
    if (n >= sizeof once)
        abort();                           /* the format must fit the buffer model_io uses */
    memcpy(text, once, n + 1);
    parse(&d, text, &ok);
    if (!ok) {
        fprintf(stderr, "a valid configuration does not parse back from its own text:\n%s\n",
                once);
        abort();
    }
    lv_config_format(&d, twice, sizeof twice);
    if (strcmp(once, twice)) {
        fprintf(stderr, "format/parse round trip changed the text:\n%s\n---\n%s\n", once, twice);
        abort();
    }
    return 0;
}
