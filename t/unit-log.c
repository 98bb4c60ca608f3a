/*
 * unit-log.c: the log lines on stderr, captured in a temporary file put on
 * descriptor 2: a line repeated is printed once, then counted; a different
 * line, the end of the window, a debug line, a fatal line or the exit
 * prints the count first; debug lines are never held back.
 */

#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"
#include "tap.h"

static int	 saved_stderr = -1;
static FILE	*capture;

static void	 begin(void);
static char	*end(void);
static char	*in_child(void (*)(void), int *);
static void	 child_exits(void);
static void	 child_fatal(void);
static void	 test_repeats(void);
static void	 test_different(void);
static void	 test_once(void);
static void	 test_window(void);
static void	 test_debug(void);
static void	 test_errno(void);
static void	 test_exit(void);
static void	 test_fatal(void);

/* Start capturing stderr in a fresh temporary file, logging from scratch. */
static void
begin(void)
{
	fflush(stderr);
	if ((capture = tmpfile()) == NULL ||
	    (saved_stderr == -1 && (saved_stderr = dup(2)) == -1) ||
	    dup2(fileno(capture), 2) == -1) {
		perror("unit-log: capture stderr");
		exit(99);
	}
}

/* Stop capturing; return what was written to stderr (to be freed). */
static char *
end(void)
{
	char	*s;
	long	 n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	n = ftell(capture);
	s = xmalloc(n > 0 ? (size_t)n + 1 : 1);
	rewind(capture);
	n = n > 0 ? (long)fread(s, 1, (size_t)n, capture) : 0;
	s[n] = '\0';
	fclose(capture);
	capture = NULL;
	return s;
}

/*
 * Run fn in a child whose stderr is captured; return what it wrote (to be
 * freed) and its exit status in *status.
 */
static char *
in_child(void (*fn)(void), int *status)
{
	pid_t	pid;

	begin();
	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("unit-log: fork");
		exit(99);
	}
	if (pid == 0) {
		fn();
		_exit(98);
	}
	if (waitpid(pid, status, 0) == -1)
		*status = -1;
	return end();
}

/* A child: a repeated line, then exit with the count held. */
static void
child_exits(void)
{
	int	i;

	log_init(0);
	for (i = 0; i < 5; i++)
		log_warnx("to the end");
	exit(0);
}

/* A child: a repeated line, then the same text as a fatal error. */
static void
child_fatal(void)
{
	int	i;

	log_init(0);
	for (i = 0; i < 3; i++)
		log_warnx("out of luck");
	fatalx("out of luck");
}

/* Many identical lines: one printed, then one line with the count. */
static void
test_repeats(void)
{
	char	*s;
	int	 i;

	begin();
	for (i = 0; i < 1000; i++)
		log_warnx("job '%s': cannot start: %s", "j",
		    "Too many open files");
	log_flush();
	s = end();
	is_str(s, "filed: job 'j': cannot start: Too many open files\n"
	    "filed: last message repeated 999 times\n",
	    "1000 identical lines: the line, then the count");
	free(s);
}

/* A different line prints the count first, and is printed itself. */
static void
test_different(void)
{
	char	*s;
	int	 i;

	begin();
	for (i = 0; i < 4; i++)
		log_warnx("same");
	log_warnx("other");
	for (i = 0; i < 3; i++)
		log_info("same");
	log_warnx("same");
	log_flush();
	s = end();
	is_str(s, "filed: same\n"
	    "filed: last message repeated 3 times\n"
	    "filed: other\n"
	    "filed: same\n"
	    "filed: last message repeated 3 times\n",
	    "a different line flushes the count and is printed");
	free(s);
}

/* One repeat is shown as the line itself; alternating lines all print. */
static void
test_once(void)
{
	char	*s;

	begin();
	log_warnx("twice");
	log_warnx("twice");
	log_warnx("a");
	log_warnx("b");
	log_warnx("a");
	log_warnx("b");
	log_flush();
	log_flush();
	s = end();
	is_str(s, "filed: twice\nfiled: twice\n"
	    "filed: a\nfiled: b\nfiled: a\nfiled: b\n",
	    "one repeat prints the line again; no count for alternating lines");
	free(s);
}

/* After the window, a repeat prints the count and the line again. */
static void
test_window(void)
{
	struct timespec	 ts = { 0, 60 * 1000000 };
	char		*s;

	log_set_repeat_window(30 * (int64_t)1000000);
	begin();
	log_warnx("slow");
	log_warnx("slow");
	log_warnx("slow");
	nanosleep(&ts, NULL);
	log_warnx("slow");
	log_warnx("slow");
	log_flush();
	s = end();
	log_set_repeat_window(10 * (int64_t)1000000000);
	is_str(s, "filed: slow\n"
	    "filed: last message repeated 2 times\n"
	    "filed: slow\n"
	    "filed: slow\n",
	    "past the window the count and the line are printed");
	free(s);
}

/* Debug lines are never held back, and flush a count first. */
static void
test_debug(void)
{
	char	*s;
	int	 i;

	log_init(1);
	begin();
	for (i = 0; i < 3; i++)
		log_debug("tick");
	log_warnx("warn");
	log_warnx("warn");
	log_warnx("warn");
	log_debug("tick");
	log_warnx("warn");
	log_flush();
	s = end();
	log_init(0);
	is_str(s, "filed: debug: tick\nfiled: debug: tick\n"
	    "filed: debug: tick\n"
	    "filed: warn\n"
	    "filed: last message repeated 2 times\n"
	    "filed: debug: tick\n"
	    "filed: warn\n",
	    "debug lines all print and flush the count");
	free(s);

	begin();
	log_debug("hidden");
	log_debug("hidden");
	log_flush();
	s = end();
	is_str(s, "", "without -d debug lines print nothing");
	free(s);
}

/* log_warn's errno text is part of the line, and errno is kept. */
static void
test_errno(void)
{
	char	*s;

	begin();
	errno = ENOENT;
	log_warn("open x");
	errno = ENOENT;
	log_warn("open x");
	errno = EACCES;
	log_warn("open x");
	is_int(errno, EACCES, "log_warn keeps errno");
	log_flush();
	s = end();
	is_str(s, "filed: open x: No such file or directory\n"
	    "filed: open x: No such file or directory\n"
	    "filed: open x: Permission denied\n",
	    "lines that differ in their errno text differ");
	free(s);
}

/* A count held at exit is printed. */
static void
test_exit(void)
{
	char	*s;
	int	 status;

	s = in_child(child_exits, &status);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exits 0");
	is_str(s, "filed: to the end\n"
	    "filed: last message repeated 4 times\n",
	    "the count is printed at exit");
	free(s);
}

/* A fatal line is always printed, after the count. */
static void
test_fatal(void)
{
	char	*s;
	int	 status;

	s = in_child(child_fatal, &status);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1, "fatalx exits 1");
	is_str(s, "filed: out of luck\n"
	    "filed: last message repeated 2 times\n"
	    "filed: out of luck\n",
	    "a fatal line is printed even when it repeats the last");
	free(s);
}

/* Run every test; TAP on stdout. */
int
main(void)
{
	log_init(0);
	test_repeats();
	test_different();
	test_once();
	test_window();
	test_debug();
	test_errno();
	test_exit();
	test_fatal();
	if (saved_stderr != -1)
		close(saved_stderr);
	return tap_done();
}
