/* Tests of the content types by extension (frontend/src/http_mime.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http_mime.h"

static const char *type_of(const char *name) {
  return http_mime_type(name, strlen(name));
}

static void test_types(void **state) {
  (void) state;
  assert_string_equal(type_of("/index.html"), "text/html; charset=utf-8");
  assert_string_equal(type_of("/a/b/app.MJS"), "text/javascript; charset=utf-8");
  assert_string_equal(type_of("/style.css"), "text/css; charset=utf-8");
  assert_string_equal(type_of("/data.json"), "application/json");
  assert_string_equal(type_of("/logo.svg"), "image/svg+xml");
  assert_string_equal(type_of("/f.woff2"), "font/woff2");
  assert_string_equal(type_of("/m.wasm"), "application/wasm");
  assert_string_equal(type_of("/v.webm"), "video/webm");
  assert_string_equal(type_of("/app.js.map"), "application/json");
  assert_string_equal(type_of("/site.webmanifest"), "application/manifest+json");
  assert_string_equal(type_of("/a.7z"), "application/x-7z-compressed");
  assert_string_equal(type_of("/zip.yml"), "text/yaml; charset=utf-8");
}

static void test_unknown_or_missing_extension(void **state) {
  (void) state;
  assert_string_equal(type_of("/README"), "application/octet-stream");
  assert_string_equal(type_of("/a.unknown"), "application/octet-stream");
  assert_string_equal(type_of("/dir.html/file"), "application/octet-stream");
  assert_string_equal(type_of("/trailing."), "application/octet-stream");
  assert_string_equal(type_of("/x.averyveryverylongextension"), "application/octet-stream");
  assert_string_equal(type_of(""), "application/octet-stream");
  /* Only the bytes given are looked at. */
  assert_string_equal(http_mime_type("/a.html", 5), "application/octet-stream");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_types),
    cmocka_unit_test(test_unknown_or_missing_extension),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_mime", tests, NULL, NULL);
}
