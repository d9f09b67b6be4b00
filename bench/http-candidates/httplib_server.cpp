// Static 200 over cpp-httplib (its thread pool).
#include <cstdlib>
#include <httplib.h>

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 8083;
  httplib::Server s;
  s.Get("/",
        [](const httplib::Request&, httplib::Response& r) { r.set_content("ok\n", "text/plain"); });
  s.listen("127.0.0.1", port);
}
