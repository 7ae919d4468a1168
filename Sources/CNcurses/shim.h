// What Swift cannot import from ncursesw directly, wrapped in small inline functions.
// The defines must come before the header, or get_wch and wint_t are missing.
#ifndef RABBIT_WIZARD_CNCURSES_SHIM_H
#define RABBIT_WIZARD_CNCURSES_SHIM_H

#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif

#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

// Hidden by Swift's Glibc module.
extern int wcwidth(wchar_t c);

static inline WINDOW *rw_stdscr(void) { return stdscr; }
static inline int rw_lines(void) { return LINES; }
static inline int rw_cols(void) { return COLS; }
static inline attr_t rw_a_bold(void) { return A_BOLD; }
static inline attr_t rw_a_reverse(void) { return A_REVERSE; }
static inline attr_t rw_a_dim(void) { return A_DIM; }
static inline attr_t rw_a_underline(void) { return A_UNDERLINE; }
static inline void rw_getmaxyx(WINDOW *w, int *y, int *x) { int yy, xx; getmaxyx(w, yy, xx); *y = yy; *x = xx; }
static inline int rw_key_f(int n) { return KEY_F(n); }

#endif
