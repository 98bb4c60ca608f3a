/*
 * unit-interp.c: interp_in_mount without a FUSE mount. /proc stands for
 * filed's mount (any mount point would do, and /proc is on every machine
 * the suite runs on); the interpreters are paths, links and scripts in a
 * temporary directory: into /proc, out of it, relative to a directory, in
 * a loop of links, and nested deeper than the kernel runs them. Then
 * interp_split, the #! line splitter both the runner and the check use.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"
#include "tap.h"

static char	dir[64];

/* Paths, from a directory, and whether they are in the mount (/proc). */
static const struct {
	const char	*path, *dir;
	int		 want;
	const char	*what;
} paths[] = {
	{ "/bin/sh", "/", 0, "/bin/sh is not" },
	{ "/proc/version", "/", 1, "/proc/version is" },
	{ "/proc", "/", 1, "the mount's root is" },
	{ "/proc/self/exe", "/", 1,
	    "a path through the mount is, wherever it leads" },
	{ "/tmp/../proc/version", "/", 1, "a path with .. into it is" },
	{ "/no/such/file", "/", 0, "a missing path is the exec's to report" },
	{ "version", "/proc", 1, "a relative path from a directory in it is" },
	{ "bin/sh", "/usr", 0, "a relative path elsewhere is not" },
	{ "version", "", 0, "a relative path with no directory is not checked" },
};

/* Make dir/name a script whose #! line is line. */
static void
script(const char *name, const char *line)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fprintf(f, "#!%s\necho hello\n", line);
	fclose(f);
	chmod(path, 0755);
}

/* Make dir/name a link to target. */
static void
link_to(const char *name, const char *target)
{
	char	path[256];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (symlink(target, path) == -1) {
		perror(path);
		exit(2);
	}
}

/* interp_in_mount of dir/name, from dir. */
static int
in(const char *name)
{
	char	path[256];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return interp_in_mount(path, dir);
}

int
main(void)
{
	char	line[64], *prog, *arg, deep[256];
	int	i;

	snprintf(dir, sizeof dir, "/tmp/unit-interp.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	is_int(interp_in_mount("/proc/version", "/"), 0,
	    "with no mount noted, nothing is in it");
	is_int(interp_set_mount("/proc"), 0, "/proc's device is read");

	for (i = 0; i < (int)(sizeof paths / sizeof paths[0]); i++)
		is_int(interp_in_mount(paths[i].path, paths[i].dir),
		    paths[i].want, "%s", paths[i].what);

	link_to("in", "/proc/version");
	link_to("out", "/bin/sh");
	link_to("rel", "../../proc/version");
	link_to("chain", "in");
	link_to("loop1", "loop2");
	link_to("loop2", "loop1");
	is_int(in("in"), 1, "a link into it is");
	is_int(in("out"), 0, "a link out of it is not");
	is_int(in("rel"), 1, "a relative link into it is");
	is_int(in("chain"), 1, "a link to a link into it is");
	is_int(in("loop1"), 0, "a loop of links ends, and is not");

	script("s-in", "/proc/self/exe");
	script("s-out", "/bin/sh");
	script("s-link", "in");
	script("s-s", "s-in");
	script("s-arg", "/proc/self/exe -x");
	is_int(in("s-in"), 1, "a script whose interpreter is in it is");
	is_int(in("s-out"), 0, "a script run by /bin/sh is not");
	is_int(in("s-link"), 1,
	    "a script whose relative interpreter links into it is");
	is_int(in("s-s"), 1, "a script run by such a script is");
	is_int(in("s-arg"), 1, "the interpreter's argument is not its path");

	/* nK runs n(K-1) ... runs n0: five scripts deep is as far as exec goes. */
	script("n0", "/proc/self/exe");
	for (i = 1; i <= 5; i++) {
		snprintf(line, sizeof line, "n%d", i);
		snprintf(deep, sizeof deep, "%s/n%d", dir, i - 1);
		script(line, deep);
	}
	is_int(in("n4"), 1, "five scripts deep it is followed");
	is_int(in("n5"), 0, "six scripts deep it is not (nor would exec be)");

	snprintf(line, sizeof line, "  /bin/sh  -e -u \t\r");
	is_int(interp_split(line, &prog, &arg), 0, "a #! line splits");
	is_str(prog, "/bin/sh", "its program ends at the first blank");
	is_str(arg, "-e -u", "its one argument is the rest, trimmed");
	snprintf(line, sizeof line, " \t");
	is_int(interp_split(line, &prog, &arg), -1, "a blank line has none");

	is_int(interp_set_mount(NULL), 0, "the mount is forgotten");
	is_int(interp_in_mount("/proc/version", "/"), 0,
	    "and nothing is in it again");

	snprintf(deep, sizeof deep, "rm -rf %s", dir);
	if (system(deep) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
