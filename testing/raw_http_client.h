// RawHttpClient: a deliberately simple blocking HTTP/1.1 client on a raw socket, for tests
// that must control every byte (pipelining, malformed requests, slow readers) or read a chunked
// stream piece by piece. Header-only; not for production use.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agentd::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class RawHttpClient {
 public:
  explicit RawHttpClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawHttpClient() { Close(); }
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void ShrinkReceiveBuffer() {
    int size = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response framed by Content-Length or chunked encoding.
  std::optional<RawResponse> ReadResponse(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto head = ReadHead(deadline);
    if (!head) return std::nullopt;
    RawResponse response = *head;
    if (response.headers.count("content-length")) {
      size_t length = std::stoul(response.headers["content-length"]);
      if (!Fill(length, deadline)) return std::nullopt;
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (response.headers["transfer-encoding"] == "chunked") {
      while (auto chunk = ReadChunk(deadline)) {
        if (chunk->empty()) break;
        response.body += *chunk;
      }
    }
    return response;
  }

  std::optional<RawResponse> ReadHead(std::chrono::steady_clock::time_point deadline) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    RawResponse response;
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[name] = value;
      pos = next + 2;
    }
    return response;
  }

  // The next chunk's data; empty string for the last chunk; nullopt on timeout or close.
  std::optional<std::string> ReadChunk(std::chrono::steady_clock::time_point deadline) {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    size_t size = std::stoul(buffer_.substr(0, end), nullptr, 16);
    buffer_.erase(0, end + 2);
    if (!Fill(size + 2, deadline)) return std::nullopt;
    std::string data = buffer_.substr(0, size);
    buffer_.erase(0, size + 2);
    if (size == 0) {
      return std::string();
    }
    return data;
  }

  // True when the server closes the connection before the deadline.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int r = ReadOnce(deadline);
      if (r == 0) return true;
      if (r < 0) return false;
    }
  }

 private:
  bool Fill(size_t n, std::chrono::steady_clock::time_point deadline) {
    while (buffer_.size() < n) {
      if (!ReadMore(deadline)) return false;
    }
    return true;
  }
  bool ReadMore(std::chrono::steady_clock::time_point deadline) { return ReadOnce(deadline) > 0; }
  // >0 bytes read, 0 EOF/reset, -1 timeout.
  int ReadOnce(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready <= 0) return -1;
    char data[65536];
    ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    if (n <= 0) return 0;
    buffer_.append(data, static_cast<size_t>(n));
    return static_cast<int>(n);
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

}  // namespace agentd::testing
