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
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
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

// newterm instead of initscr: with an unknown TERM initscr prints and exits, newterm returns NULL.
static inline SCREEN *rw_newterm(void) { return newterm(NULL, stdout, stdin); }

// The terminal as it was before curses, restored by a crash handler: tcsetattr and write are
// async-signal-safe, endwin is not. Also leaves the alternate screen and shows the cursor.
// Storage lives in static locals: Swift's importer emits functions it uses, not header globals.
static inline struct termios *rw_saved_termios(void) { static struct termios t; return &t; }
static inline int *rw_have_saved_termios(void) { static int have = 0; return &have; }
static inline volatile sig_atomic_t *rw_pending_signal(void) { static volatile sig_atomic_t s = 0; return &s; }

static inline void rw_restore_terminal_now(void) {
    if (*rw_have_saved_termios()) tcsetattr(0, TCSANOW, rw_saved_termios());
    static const char reset[] = "\033[0m\033[?1049l\033[?25h\r\n";
    (void)!write(1, reset, sizeof reset - 1);
}

static void rw_fatal_signal(int sig) {
    rw_restore_terminal_now();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void rw_note_signal(int sig) { *rw_pending_signal() = sig; }

// Saves the terminal, restores it on a crash (trap, abort, segfault), and turns SIGINT, SIGTERM and
// SIGHUP into a flag the input loop polls.
static inline void rw_install_terminal_guards(void) {
    if (tcgetattr(0, rw_saved_termios()) == 0) *rw_have_saved_termios() = 1;
    int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE};
    for (unsigned i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], rw_fatal_signal);
    signal(SIGINT, rw_note_signal);
    signal(SIGTERM, rw_note_signal);
    signal(SIGHUP, rw_note_signal);
}

// The signal noted since the last call (0 if none).
static inline int rw_take_signal(void) { int s = *rw_pending_signal(); *rw_pending_signal() = 0; return s; }

#endif
