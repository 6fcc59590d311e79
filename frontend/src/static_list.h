/* static_list: the HTML listing of a directory under a --static mount
 * (--static-listing), as nginx's autoindex makes it.  Called on the thread
 * pool only (it reads the directory).  Calls http_head (percent-encoding
 * its links). */
#ifndef TDM_STATIC_LIST_H
#define TDM_STATIC_LIST_H

#include <stddef.h>
#include <sys/types.h>

/* At most this many entries are listed (the page says how many more there
 * are), so a page never grows past about STATIC_LIST_MAX * 600 bytes. */
#define STATIC_LIST_MAX 2000

/* The listing of directory dir, whose URL path is url (percent-encoded
 * already, ending with '/'), as an HTML page in a buffer *out the caller
 * frees.  Hidden entries (a name starting with a dot) are left out; names
 * are sorted, directories end with '/'.  Returns the page's length, or a
 * negative errno. */
ssize_t static_list_dir(const char *dir, const char *url, char **out);

#endif /* TDM_STATIC_LIST_H */
