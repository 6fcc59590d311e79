/* status_page: the HTML of /status.html on --metrics-listen, one
 * self-contained page (inline CSS and JavaScript, nothing fetched but
 * /status, every second).  Ground level: text only. */
#ifndef TDM_STATUS_PAGE_H
#define TDM_STATUS_PAGE_H

extern const char status_page_html[];

#endif /* TDM_STATUS_PAGE_H */
