// Availability on session open and HLS master playlists (CAF-free parts): every refusal
// reason; the ladder per degrader level and device class, attribute by attribute. The
// last case writes playlists to hls_test_data/ for tests/tools/hls_parser_test.sh, which
// parses them with the m3u8-parser npm package.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "actors/media/availability.hpp"
#include "actors/media/playlist.hpp"

namespace {

using sv::content::metadata;
using sv::media::refusal;

constexpr int64_t now = 1'800'000'000'000;

void add(metadata& m, const char* id, uint32_t w, uint32_t h, uint32_t kbps, bool ready = true) {
  auto* r = m.add_renditions();
  r->set_id(id);
  r->set_codecs("avc1.640028,mp4a.40.2");
  r->set_width(w);
  r->set_height(h);
  r->set_bitrate_kbps(kbps);
  r->set_average_bitrate_kbps(kbps * 3 / 4);
  r->set_frame_rate(25);
  r->set_ready(ready);
}

// A title with a five-rung ladder, in two regions.
metadata title() {
  metadata m;
  m.set_id("premiere-1");
  m.set_title("Premiere");
  add(m, "2160p", 3840, 2160, 16000);
  add(m, "1080p", 1920, 1080, 6000);
  add(m, "720p", 1280, 720, 3000);
  add(m, "480p", 854, 480, 1500);
  add(m, "360p", 640, 360, 800);
  m.mutable_availability()->add_regions("eu-west");
  m.mutable_availability()->add_regions("us-east");
  return m;
}

// The heights the playlist offers, in order.
std::vector<uint32_t> heights(const std::string& playlist) {
  std::vector<uint32_t> out;
  std::istringstream in{playlist};
  std::string line;
  while (std::getline(in, line)) {
    auto i = line.find("RESOLUTION=");
    if (i != std::string::npos) {
      auto x = line.find('x', i);
      out.push_back(static_cast<uint32_t>(std::stoul(line.substr(x + 1))));
    }
  }
  return out;
}

} // namespace

TEST_SUITE("actors.media") {
  TEST_CASE("every availability refusal has its reason") {
    auto m = title();
    CHECK(sv::media::check_availability(m, "eu-west", now) == refusal::none);
    CHECK(sv::media::check_availability(m, "ap-south", now) == refusal::not_in_region);
    auto later = m;
    later.mutable_availability()->set_window_start_ms(now + 1);
    CHECK(sv::media::check_availability(later, "eu-west", now) == refusal::outside_window);
    auto ended = m;
    ended.mutable_availability()->set_window_end_ms(now);
    CHECK(sv::media::check_availability(ended, "eu-west", now) == refusal::outside_window);
    auto open_window = m;
    open_window.mutable_availability()->set_window_start_ms(now - 1);
    open_window.mutable_availability()->set_window_end_ms(now + 1);
    CHECK(sv::media::check_availability(open_window, "eu-west", now) == refusal::none);
    auto unpackaged = m;
    for (auto& r : *unpackaged.mutable_renditions()) {
      r.set_ready(false);
    }
    CHECK(sv::media::check_availability(unpackaged, "eu-west", now) == refusal::no_ready_rendition);
    // Region rights come first, then the window, then renditions.
    CHECK(sv::media::check_availability(unpackaged, "ap-south", now) == refusal::not_in_region);
    CHECK(std::string{sv::media::to_string(refusal::not_in_region)} == "not_in_region");
    CHECK(std::string{sv::media::to_string(refusal::outside_window)} == "outside_window");
    CHECK(std::string{sv::media::to_string(refusal::no_ready_rendition)} == "no_ready_rendition");
    CHECK(std::string{sv::media::to_string(refusal::not_entitled)} == "not_entitled");
  }

  TEST_CASE("a master playlist has one stream per ready rendition with every attribute") {
    auto m = title();
    (*m.mutable_renditions())[1].set_ready(false); // 1080p not packaged yet
    auto text = sv::media::master_playlist(m, 0, "tv");
    CHECK(text.rfind("#EXTM3U\n#EXT-X-VERSION:7\n", 0) == 0);
    CHECK(heights(text) == std::vector<uint32_t>{2160, 720, 480, 360});
    CHECK(text.find("#EXT-X-STREAM-INF:BANDWIDTH=16000000,AVERAGE-BANDWIDTH=12000000,"
                    "RESOLUTION=3840x2160,CODECS=\"avc1.640028,mp4a.40.2\",FRAME-RATE=25.000\n"
                    "2160p/index.m3u8\n")
          != std::string::npos);
    CHECK(text.find("1080p") == std::string::npos);
    for (auto& r : *m.mutable_renditions()) {
      r.set_ready(false);
    }
    CHECK(sv::media::master_playlist(m, 0, "tv").empty());
  }

  TEST_CASE("the ladder is capped by the degrader level and the device class") {
    auto m = title();
    CHECK(heights(sv::media::master_playlist(m, 0, "tv"))
          == std::vector<uint32_t>{2160, 1080, 720, 480, 360});
    CHECK(heights(sv::media::master_playlist(m, 1, "tv"))
          == std::vector<uint32_t>{1080, 720, 480, 360});
    CHECK(heights(sv::media::master_playlist(m, 2, "tv")) == std::vector<uint32_t>{720, 480, 360});
    CHECK(heights(sv::media::master_playlist(m, 3, "tv")) == std::vector<uint32_t>{480, 360});
    CHECK(heights(sv::media::master_playlist(m, 4, "tv")) == std::vector<uint32_t>{360});
    CHECK(heights(sv::media::master_playlist(m, 0, "mobile"))
          == std::vector<uint32_t>{720, 480, 360});
    CHECK(heights(sv::media::master_playlist(m, 0, "web"))
          == std::vector<uint32_t>{1080, 720, 480, 360});
    CHECK(heights(sv::media::master_playlist(m, 3, "mobile")) == std::vector<uint32_t>{480, 360});
    // Only tall renditions: the lowest is offered anyway, playback goes on.
    metadata tall;
    tall.set_id("tall");
    add(tall, "2160p", 3840, 2160, 16000);
    add(tall, "1440p", 2560, 1440, 9000);
    CHECK(heights(sv::media::master_playlist(tall, 4, "mobile")) == std::vector<uint32_t>{1440});
  }

  TEST_CASE("sample playlists for the HLS parser check are written") {
    auto dir = std::filesystem::path{"hls_test_data"};
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto m = title();
    size_t files = 0;
    for (int level = 0; level <= 4; ++level) {
      for (auto device : {"tv", "web", "mobile"}) {
        auto text = sv::media::master_playlist(m, level, device);
        // The file name carries what the parser must find: level, device, stream count.
        auto name = "L" + std::to_string(level) + "-" + device + "-"
                    + std::to_string(heights(text).size()) + ".m3u8";
        std::ofstream{dir / name} << text;
        ++files;
      }
    }
    CHECK(files == 15);
  }
}
