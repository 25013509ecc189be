# frozen_string_literal: true

# A real `exteros-central serve` for the tests: the shared fixture (clients/testdata/fixture.py
# sets up SQLite with the CLI and imports the published example day), then the server on a
# free port. The Python is $EXTEROS_PYTHON, else the repository's .venv, else python3.

require 'fileutils'
require 'json'
require 'minitest/autorun'
require 'net/http'
require 'open3'
require 'socket'
require 'tmpdir'

$LOAD_PATH.unshift(File.expand_path('../lib', __dir__))
require 'exteros'

module Harness
  ROOT = File.expand_path('../../..', __dir__)
  TESTDATA = File.join(ROOT, 'clients', 'testdata')
  TABLE = JSON.parse(File.read(File.join(TESTDATA, 'published_examples.json')))

  Store = Struct.new(:db, :key, :central, :dir)
  Server = Struct.new(:base_url, :key, :pid, :log)

  module_function

  def python
    return ENV['EXTEROS_PYTHON'] if ENV['EXTEROS_PYTHON']

    venv = File.join(ROOT, '.venv', 'bin', 'python')
    File.exist?(venv) ? venv : 'python3'
  end

  # A fresh store in a temp dir (removed when the tests end).
  def prepare
    dir = Dir.mktmpdir('exteros-ruby-')
    at_exit { FileUtils.rm_rf(dir) }
    out, err, status = Open3.capture3(python, File.join(TESTDATA, 'fixture.py'), dir)
    raise "fixture.py failed: #{err}" unless status.success?

    info = JSON.parse(out.lines.last)
    Store.new(info['db'], info['key'], info['central'], dir)
  end

  def free_port
    server = TCPServer.new('127.0.0.1', 0)
    server.addr[1]
  ensure
    server&.close
  end

  # Start `exteros-central serve` on +store+ with extra environment; returns once it answers.
  def start_server(store, env = {})
    port = free_port
    log = File.join(store.dir, "serve-#{port}.log")
    argv = [*store.central, '--db', store.db, 'serve', '--host', '127.0.0.1', '--port', port.to_s]
    pid = Process.spawn(env, *argv, out: log, err: log)
    server = Server.new("http://127.0.0.1:#{port}", store.key, pid, log)
    Minitest.after_run { stop(server) }
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 90
    loop do
      raise "exteros-central serve exited: #{File.read(log)[-2000..]}" if Process.waitpid(pid, Process::WNOHANG)
      return server if healthy?(server.base_url)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "exteros-central serve did not answer: #{File.read(log)[-2000..]}"
      end

      sleep 0.1
    end
  end

  def healthy?(base_url)
    Net::HTTP.get_response(URI("#{base_url}/healthz")).is_a?(Net::HTTPSuccess)
  rescue SystemCallError, IOError
    false
  end

  def stop(server)
    Process.kill('TERM', server.pid)
    Process.wait(server.pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  # The request as curl makes it: [status, exact body text].
  def raw_get(server, kase)
    uri = URI("#{server.base_url}#{kase['path']}")
    uri.query = kase['query'] unless kase['query'].empty?
    req = Net::HTTP::Get.new(uri)
    req['Authorization'] = kase['key'] || server.key
    res = Net::HTTP.start(uri.host, uri.port) { |http| http.request(req) }
    [res.code.to_i, res.body]
  end

  # Run one table case through a client: positional args, then the options as keywords.
  def call_case(api, kase)
    options = kase['options'].transform_keys(&:to_sym)
    api.public_send(kase['call'], *kase['args'], **options)
  end

  # The table store and server, shared by the test classes that read the table.
  def table_server
    @table_server ||= start_server(prepare)
  end
end
