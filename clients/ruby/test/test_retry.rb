# frozen_string_literal: true

# 429 answers from a real server: the per-key rate limit (Retry-After ~2 s) is waited out;
# the failed-authentication limit (Retry-After ~60 s, past max_retry_wait) raises at once.

require_relative 'test_helper'

module RetryServers
  module_function

  def store
    @store ||= Harness.prepare
  end

  def rate_limited
    @rate_limited ||= Harness.start_server(store, 'EXTEROS_RATE_PER_S' => '0.5', 'EXTEROS_RATE_BURST' => '1')
  end

  def auth_limited
    @auth_limited ||= Harness.start_server(
      store, 'EXTEROS_AUTH_FAIL_LIMIT' => '2', 'EXTEROS_AUTH_FAIL_WINDOW_S' => '60'
    )
  end
end

class RetryTest < Minitest::Test
  i_suck_and_my_tests_are_order_dependent! # one token bucket shared by the rate-limit tests

  def clock
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def test_1_a_429_is_retried_after_its_retry_after
    server = RetryServers.rate_limited
    api = Exteros::APIClient.authorize!(server.key, base_url: server.base_url)
    first = api.locations
    t0 = clock
    assert_equal first, api.locations
    waited = clock - t0
    assert_operator waited, :>=, 1.95, "retried after #{waited} s, before Retry-After (2 s)"
  end

  def test_2_max_retries_0_raises_with_status_message_and_retry_after
    server = RetryServers.rate_limited
    patient = Exteros::APIClient.authorize!(server.key, base_url: server.base_url)
    hasty = Exteros::APIClient.authorize!(server.key, base_url: server.base_url, max_retries: 0)
    patient.locations # takes the token (after waiting, if need be)
    err = assert_raises(Exteros::Error) { hasty.locations }
    assert_equal 429, err.status
    assert_match(/\Atoo many requests for this key; retry in /, err.message)
    assert_includes 1..3, err.retry_after
  end

  def test_3_a_retry_after_past_max_retry_wait_raises_at_once
    server = RetryServers.auth_limited
    wrong = Exteros::APIClient.authorize!('ext_wrong', base_url: server.base_url)
    2.times { assert_equal 401, assert_raises(Exteros::Error) { wrong.locations }.status }
    right = Exteros::APIClient.authorize!(server.key, base_url: server.base_url)
    t0 = clock
    err = assert_raises(Exteros::Error) { right.locations }
    assert_operator clock - t0, :<, 5, 'waited although Retry-After exceeds max_retry_wait'
    assert_equal 429, err.status
    assert_match(/\Atoo many failed authentications from this address/, err.message)
    assert_includes 50..61, err.retry_after
  end

  def test_4_retry_after_as_seconds_or_an_http_date
    now = Time.utc(2020, 1, 1)
    parse = ->(v) { Exteros::APIClient.parse_retry_after(v, now) }
    assert_equal 7, parse.call('7')
    assert_equal 30, parse.call('Wed, 01 Jan 2020 00:00:30 GMT')
    assert_equal 0, parse.call('Tue, 31 Dec 2019 00:00:00 GMT')
    assert_nil parse.call(nil)
    assert_nil parse.call('soon')
  end
end
