/* tandem._speedups: the backend's two hottest frame conversions in C, with
 * the protocol's own C codec (protocol/tdm_proto.c, the frontend's).
 *
 * request_from(buf, start, end)
 *     The REQUEST frame whose payload is buf[start:end], as the Request tuple
 *     protocol.py's decoder makes, or None for anything else: another frame
 *     type, a malformed frame, a str that is not UTF-8, an element this
 *     version ignores.  A REQUEST without the optional request_id gets
 *     "".  On None the caller decodes the payload in Python, which says
 *     what is wrong; so this accepts a subset of what protocol.py accepts
 *     and returns the same values for it.
 *
 * response_frame(stream_id, flags, status, headers, body)
 *     A whole RESPONSE frame (length prefix and payload), the same bytes as
 *     protocol.response_frame(), or None if an argument is not what the C
 *     codec encodes (headers other than a tuple or list of bytes, an int out
 *     of range, a body without the buffer interface).
 *
 * prepare_headers(headers, lower)
 *     validation.prepare() for headers given as a list or tuple of (name,
 *     value) tuples of bytes: ([name, value, ...] with the names lowercased if
 *     lower, the content-length they declare or None).  None for anything
 *     else, and for any header the rules refuse: validation.py then raises the
 *     error that names it.
 *
 * The module keeps one decoder (its msgpack zone is reused by every call);
 * both functions hold the GIL throughout, so calls never overlap.
 *
 * Built by the Makefile into backend/tandem/ (`make build`); protocol.py
 * uses the pure Python decoder and encoder when the module is absent.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>
#include <strings.h>

#include "tdm_proto.h"

#define HEADERS_ON_STACK 32
#define REQUEST_ELEMENTS 14         /* 13 from a frontend before request ids */
#define REQUEST_ITEMS 13            /* the Request tuple's: no type */
#define FIXARRAY(n) (0x90 | (n))

static tdm_decoder decoder;           /* owner: this module, for the process's life */
static PyTypeObject *request_type;    /* protocol.Request, set by setup() */

static PyObject *str_of(tdm_str s) {
  return PyUnicode_DecodeUTF8(s.ptr, (Py_ssize_t) s.len, NULL);
}

static PyObject *bytes_of(tdm_str s) {
  return PyBytes_FromStringAndSize(s.ptr, (Py_ssize_t) s.len);
}

/* None, or the (host, port) tuple. */
static PyObject *addr_of(const tdm_addr *a) {
  PyObject *t;

  if (!a->present)
    Py_RETURN_NONE;
  t = PyTuple_New(2);
  if (t == NULL)
    return NULL;
  PyTuple_SET_ITEM(t, 0, str_of(a->host));
  if (PyTuple_GET_ITEM(t, 0) == NULL) {
    Py_DECREF(t);
    return NULL;
  }
  PyTuple_SET_ITEM(t, 1, PyLong_FromUnsignedLong(a->port));
  if (PyTuple_GET_ITEM(t, 1) == NULL)
    Py_CLEAR(t);
  return t;
}

/* [(name, value), ...] */
static PyObject *headers_of(const tdm_request *r) {
  PyObject *list, *pair;
  uint32_t i;

  list = PyList_New(r->nheaders);
  if (list == NULL)
    return NULL;
  for (i = 0; i < r->nheaders; i++) {
    pair = PyTuple_New(2);
    if (pair == NULL) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, i, pair);
    PyTuple_SET_ITEM(pair, 0, bytes_of(r->headers[i].name));
    PyTuple_SET_ITEM(pair, 1, bytes_of(r->headers[i].value));
    if (PyTuple_GET_ITEM(pair, 0) == NULL || PyTuple_GET_ITEM(pair, 1) == NULL) {
      Py_DECREF(list);
      return NULL;
    }
  }
  return list;
}

/* The Request tuple: (stream_id, flags, method, target, path, query,
 * http_version, headers, client, server, scheme, body, request_id). */
static PyObject *request_of(uint32_t stream_id, const tdm_request *r) {
  PyObject *t;
  PyObject *items[REQUEST_ITEMS] = {NULL};
  int i;

  /* In order, stopping at the first failure: a second str that is not
   * UTF-8 must not be decoded with the first one's exception still set. */
  if ((items[0] = PyLong_FromUnsignedLong(stream_id)) == NULL ||
      (items[1] = PyLong_FromUnsignedLong(r->flags)) == NULL ||
      (items[2] = str_of(r->method)) == NULL ||
      (items[3] = bytes_of(r->target)) == NULL ||
      (items[4] = bytes_of(r->path)) == NULL ||
      (items[5] = bytes_of(r->query)) == NULL ||
      (items[6] = str_of(r->http_version)) == NULL ||
      (items[7] = headers_of(r)) == NULL ||
      (items[8] = addr_of(&r->client)) == NULL ||
      (items[9] = addr_of(&r->server)) == NULL ||
      (items[10] = str_of(r->scheme)) == NULL ||
      (items[11] = bytes_of(r->body)) == NULL ||
      (items[12] = str_of(r->request_id)) == NULL)
    goto fail;
  /* What tuple.__new__(Request, items) does, without the iteration. */
  t = request_type->tp_alloc(request_type, REQUEST_ITEMS);
  if (t == NULL)
    goto fail;
  for (i = 0; i < REQUEST_ITEMS; i++)
    PyTuple_SET_ITEM(t, i, items[i]);
  return t;

fail:
  for (i = 0; i < REQUEST_ITEMS; i++)
    Py_XDECREF(items[i]);
  return NULL;
}

/* Whether the flags of the REQUEST payload p[0..n) are encoded as a uint64:
 * the C codec keeps the bits a uint32_t holds, protocol.py all of them. */
static int flags_are_wide(const unsigned char *p, size_t n) {
  size_t off = 2;               /* the array's header, the type (a fixint) */

  if (n < 4)
    return 1;
  switch (p[off]) {             /* the stream id */
  case 0xcc: off += 2; break;
  case 0xcd: off += 3; break;
  case 0xce: off += 5; break;
  case 0xcf: off += 9; break;
  default: off += 1; break;
  }
  return off >= n || p[off] == 0xcf;
}

static PyObject *request_from(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  Py_buffer view;
  Py_ssize_t start, end;
  const unsigned char *p;
  tdm_frame f;
  PyObject *result = NULL;

  (void) self;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "request_from(buf, start, end)");
    return NULL;
  }
  if (request_type == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "tandem._speedups.setup() was not called");
    return NULL;
  }
  start = PyLong_AsSsize_t(args[1]);
  end = PyLong_AsSsize_t(args[2]);
  if ((start == -1 || end == -1) && PyErr_Occurred())
    return NULL;
  if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) != 0)
    return NULL;
  p = (const unsigned char *) view.buf + start;
  /* Exactly the fourteen elements of this version (or the thirteen of a
   * frontend from before request ids), and a REQUEST's type: a later
   * version's extra elements may hold what only the Python decoder takes (a
   * map with array keys, an ext). */
  if (start < 0 || end > view.len || end - start < 2 || end - start > UINT32_MAX ||
      (p[0] != FIXARRAY(REQUEST_ELEMENTS) && p[0] != FIXARRAY(REQUEST_ELEMENTS - 1)) ||
      p[1] != TDM_REQUEST ||
      flags_are_wide(p, (size_t) (end - start)))
    goto done;
  if (tdm_decode_payload(&decoder, (const char *) p, (uint32_t) (end - start), &f) != 0 ||
      f.type != TDM_REQUEST)
    goto done;
  result = request_of(f.stream_id, &f.u.request);
  if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
    PyErr_Clear();              /* not UTF-8: the Python decoder says so */
done:
  PyBuffer_Release(&view);
  if (result == NULL && !PyErr_Occurred())
    result = Py_NewRef(Py_None);
  return result;
}

/* An int in 0..max, or -1 (with no exception set) if it is not one. */
static long long small_uint(PyObject *o, unsigned long long max) {
  unsigned long long v;

  if (!PyLong_CheckExact(o))
    return -1;
  v = PyLong_AsUnsignedLongLong(o);
  if (v == (unsigned long long) -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return -1;
  }
  return v <= max ? (long long) v : -1;
}

static PyObject *response_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  tdm_header stack[HEADERS_ON_STACK];
  tdm_header *h = stack;
  tdm_frame f;
  tdm_buf out;
  Py_buffer body;
  PyObject *headers, *result = NULL;
  PyObject **items;
  long long sid, flags, status;
  Py_ssize_t n, i;
  size_t size;

  (void) self;
  if (nargs != 5) {
    PyErr_SetString(PyExc_TypeError, "response_frame(stream_id, flags, status, headers, body)");
    return NULL;
  }
  sid = small_uint(args[0], TDM_MAX_STREAM_ID);
  flags = small_uint(args[1], UINT32_MAX);
  status = small_uint(args[2], UINT32_MAX);
  headers = args[3];
  if (sid <= 0 || flags < 0 || status < 0 || !(PyTuple_CheckExact(headers) || PyList_CheckExact(headers)))
    Py_RETURN_NONE;
  n = PySequence_Fast_GET_SIZE(headers);
  if (n % 2 != 0 || n / 2 > UINT32_MAX)
    Py_RETURN_NONE;
  if (PyObject_GetBuffer(args[4], &body, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  if (n / 2 > HEADERS_ON_STACK) {
    h = PyMem_Malloc((size_t) (n / 2) * sizeof(*h));   /* owner: this call */
    if (h == NULL) {
      PyErr_NoMemory();
      goto done;
    }
  }
  items = PySequence_Fast_ITEMS(headers);
  for (i = 0; i < n; i++) {
    tdm_str *s = i % 2 == 0 ? &h[i / 2].name : &h[i / 2].value;
    if (!PyBytes_CheckExact(items[i]) || PyBytes_GET_SIZE(items[i]) > UINT32_MAX) {
      result = Py_NewRef(Py_None);
      goto done;
    }
    s->ptr = PyBytes_AS_STRING(items[i]);
    s->len = (uint32_t) PyBytes_GET_SIZE(items[i]);
  }
  if (body.len > UINT32_MAX) {
    result = Py_NewRef(Py_None);
    goto done;
  }
  memset(&f, 0, sizeof(f));
  f.type = TDM_RESPONSE;
  f.stream_id = (uint32_t) sid;
  f.u.response.flags = (uint32_t) flags;
  f.u.response.status = (uint32_t) status;
  f.u.response.headers = h;
  f.u.response.nheaders = (uint32_t) (n / 2);
  f.u.response.body.ptr = body.buf;
  f.u.response.body.len = (uint32_t) body.len;
  size = tdm_encoded_size(&f);
  if (size == 0) {
    result = Py_NewRef(Py_None);
    goto done;
  }
  result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) size);
  if (result == NULL)
    goto done;
  /* A buffer over the bytes object's own storage, exactly large enough:
   * tdm_encode() writes in place and never reallocates it. */
  out.base = PyBytes_AS_STRING(result);
  out.len = 0;
  out.size = size;
  out.cap = size;
  if (tdm_encode(&out, &f) != (ssize_t) size) {
    Py_CLEAR(result);
    PyErr_SetString(PyExc_RuntimeError, "RESPONSE frame encoding failed");
  }
done:
  if (h != stack)
    PyMem_Free(h);
  PyBuffer_Release(&body);
  return result;
}

/* RFC 9110 section 5.6.2's tchar, and the field-value bytes validation.py
 * allows (all but the controls other than HTAB). */
static unsigned char is_tchar[256];
static unsigned char is_value_byte[256];

static void tables_init(void) {
  const char *extra = "!#$%&'*+-.^_`|~";
  int c;

  for (c = 0; c < 256; c++) {
    is_tchar[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    is_value_byte[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
  }
  for (; *extra != '\0'; extra++)
    is_tchar[(unsigned char) *extra] = 1;
}

/* The name to send: `name` itself, or a lowercased copy if `lower` and it
 * has capitals; NULL (no exception) if it is not a token. */
static PyObject *header_name(PyObject *name, int lower, int *is_length) {
  const unsigned char *p = (const unsigned char *) PyBytes_AS_STRING(name);
  Py_ssize_t n = PyBytes_GET_SIZE(name), i;
  int capitals = 0;
  PyObject *low;
  char *q;

  if (n == 0)
    return NULL;
  for (i = 0; i < n; i++) {
    if (!is_tchar[p[i]])
      return NULL;
    capitals |= p[i] >= 'A' && p[i] <= 'Z';
  }
  *is_length = n == 14 && strncasecmp((const char *) p, "content-length", 14) == 0;
  if (!lower || !capitals)
    return Py_NewRef(name);
  low = PyBytes_FromStringAndSize(NULL, n);   /* owner: the caller */
  if (low == NULL)
    return NULL;
  q = PyBytes_AS_STRING(low);
  for (i = 0; i < n; i++)
    q[i] = (char) (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
  return low;
}

/* A content-length value (1 to 18 digits), or -1; any other value, 0. */
static long long header_value(PyObject *value, int is_length) {
  const unsigned char *p = (const unsigned char *) PyBytes_AS_STRING(value);
  Py_ssize_t n = PyBytes_GET_SIZE(value), i;
  long long v = 0;

  for (i = 0; i < n; i++)
    if (!is_value_byte[p[i]])
      return -1;
  if (!is_length)
    return 0;
  if (n == 0 || n > 18)
    return -1;
  for (i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

static PyObject *prepare_headers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  PyObject *headers, *flat, *name, *value, *pair;
  long long length = -1, v;
  Py_ssize_t n, i;
  int lower, is_length;

  (void) self;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "prepare_headers(headers, lower)");
    return NULL;
  }
  headers = args[0];
  lower = PyObject_IsTrue(args[1]);
  if (lower < 0)
    return NULL;
  if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers))
    Py_RETURN_NONE;
  n = PySequence_Fast_GET_SIZE(headers);
  flat = PyList_New(2 * n);   /* owner: returned to the caller */
  if (flat == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    pair = PySequence_Fast_GET_ITEM(headers, i);
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
      goto refuse;
    name = PyTuple_GET_ITEM(pair, 0);
    value = PyTuple_GET_ITEM(pair, 1);
    if (!PyBytes_CheckExact(name) || !PyBytes_CheckExact(value))
      goto refuse;
    is_length = 0;
    name = header_name(name, lower, &is_length);
    if (name == NULL)
      goto refuse;
    PyList_SET_ITEM(flat, 2 * i, name);
    PyList_SET_ITEM(flat, 2 * i + 1, Py_NewRef(value));
    v = header_value(value, is_length);
    if (v < 0 || (is_length && length >= 0 && v != length))
      goto refuse;
    if (is_length)
      length = v;
  }
  if (length < 0)
    return Py_BuildValue("(NO)", flat, Py_None);
  return Py_BuildValue("(NL)", flat, length);
refuse:
  Py_DECREF(flat);
  if (PyErr_Occurred())
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *setup(PyObject *self, PyObject *type) {
  (void) self;
  if (!PyType_Check(type) || !PyType_IsSubtype((PyTypeObject *) type, &PyTuple_Type)) {
    PyErr_SetString(PyExc_TypeError, "setup() takes the Request tuple type");
    return NULL;
  }
  Py_INCREF(type);
  Py_XSETREF(request_type, (PyTypeObject *) type);
  Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
  {"request_from", (PyCFunction) (void (*)(void)) request_from, METH_FASTCALL,
   "The REQUEST frame whose payload is buf[start:end], or None."},
  {"response_frame", (PyCFunction) (void (*)(void)) response_frame, METH_FASTCALL,
   "A whole RESPONSE frame as bytes, or None."},
  {"prepare_headers", (PyCFunction) (void (*)(void)) prepare_headers, METH_FASTCALL,
   "validation.prepare() for lists and tuples of bytes pairs, or None."},
  {"setup", setup, METH_O, "Sets the Request type request_from() makes."},
  {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
  PyModuleDef_HEAD_INIT, "tandem._speedups", "Frame conversions in C (protocol.py uses them).", -1,
  methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
  static int ready;

  /* The caller has checked each payload against its own maximum frame size. */
  if (!ready) {
    tables_init();
    if (tdm_decoder_init(&decoder, UINT32_MAX) != 0)
      return PyErr_NoMemory();
    ready = 1;
  }
  return PyModule_Create(&module);
}
