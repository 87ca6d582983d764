/* A 5x7 bitmap font for the pictures the project writes (charts, contact-sheet labels). */
#ifndef LV_FONT_H
#define LV_FONT_H

#include <stdint.h>

/* The 7 rows of ch's glyph, 5 bits each, most significant bit leftmost; characters the font
 * lacks ('0'-'9', 'A'-'Z', 'a'-'z' and " .,-+:/()=_%?" are there) show as '?'. */
const uint8_t *lv_font_glyph(char ch);

#endif
