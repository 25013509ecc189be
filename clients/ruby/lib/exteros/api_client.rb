# frozen_string_literal: true

require 'date'
require 'json'
require 'net/http'
require 'openssl'
require 'time'
require 'uri'

require_relative 'error'
require_relative 'version'

module Exteros
  # A session with the Exteros REST API for one key. Every method maps to one endpoint
  # and returns the API's JSON array as is (parsed, string keys).
  #
  #   api = Exteros::APIClient.authorize!('YOUR_API_KEY', base_url: 'http://127.0.0.1:8000')
  #   api.impression_counts('madison-ave-store', '2020-01-01')
  #   # => [{"hr"=>9, "impressions"=>100}, ...]
  class APIClient
    DEFAULT_BASE_URL = 'https://api.exteros.com'
    COUNT_PATHS = {
      impression: 'impression-counts',
      discovery: 'discovery-counts',
      engagement: 'engagement-counts',
      interaction: 'interaction-counts'
    }.freeze
    NETWORK_ERRORS = [
      IOError, SystemCallError, SocketError, Timeout::Error, OpenSSL::SSL::SSLError
    ].freeze

    attr_reader :base_url, :timeout, :max_retries, :max_retry_wait

    # A client for +key+. +base_url+ defaults to $EXTEROS_API_URL, else the hosted API.
    # A 429 is retried after its Retry-After at most +max_retries+ times, and only while
    # Retry-After is at most +max_retry_wait+ seconds; otherwise Exteros::Error is raised.
    def self.authorize!(key, base_url: nil, **options)
      new(key, base_url: base_url, **options)
    end

    def initialize(key, base_url: nil, timeout: 10, max_retries: 3, max_retry_wait: 30)
      raise ArgumentError, 'an API key is required' unless key.is_a?(String) && !key.empty?

      @key = key
      @base_url = (base_url || ENV['EXTEROS_API_URL'] || DEFAULT_BASE_URL).sub(%r{/+\z}, '')
      @timeout = timeout
      @max_retries = max_retries
      @max_retry_wait = max_retry_wait
    end

    # Counts of +kind+ (:impression, :discovery, :engagement, :interaction) for a local day.
    # +hour+: 'all' or 0-23; +interval+: 'hour', '15min' or 'day' (the API's defaults if nil).
    def counts(kind, location, date, hour: nil, interval: nil)
      path = COUNT_PATHS.fetch(kind.to_sym) do
        raise ArgumentError, "kind must be one of #{COUNT_PATHS.keys.join(', ')}"
      end
      get("/v1/traffic/#{path}/#{segment('location', location)}/#{segment('date', day(date))}",
          'hour' => hour, 'interval' => interval)
    end

    # People passing by the location.
    def impression_counts(location, date, hour: nil, interval: nil)
      counts(:impression, location, date, hour: hour, interval: interval)
    end

    # People spending at least 3 seconds at the location.
    def discovery_counts(location, date, hour: nil, interval: nil)
      counts(:discovery, location, date, hour: hour, interval: interval)
    end

    # People spending at least 10 seconds at the location.
    def engagement_counts(location, date, hour: nil, interval: nil)
      counts(:engagement, location, date, hour: hour, interval: interval)
    end

    # People touching or picking up a product at the location.
    def interaction_counts(location, date, hour: nil, interval: nil)
      counts(:interaction, location, date, hour: hour, interval: interval)
    end

    # The locations this key may query; +info: true+ adds company, parent, children, type, timezone.
    def locations(info: false)
      get('/v1/locations', 'info' => info ? 'true' : nil)
    end

    # [{"last-update"=>"2020-05-30T09:30:10Z"}], or [] for a location never heard of.
    def last_update(location)
      get("/v1/locations/last-update/#{segment('location', location)}")
    end

    # Seconds to wait from a Retry-After value (delta seconds or an HTTP date); nil if none.
    def self.parse_retry_after(value, now = Time.now)
      return nil if value.nil? || value.strip.empty?
      return Integer(value.strip, 10) if value.strip.match?(/\A\d+\z/)

      [Time.httpdate(value.strip) - now, 0].max
    rescue ArgumentError
      nil
    end

    private

    def day(date)
      return date.strftime('%Y-%m-%d') if date.is_a?(Date)
      return date if date.is_a?(String)

      raise ArgumentError, "date must be a 'yyyy-MM-dd' String or a Date, not #{date.class}"
    end

    def segment(name, value)
      raise ArgumentError, "#{name} must be a non-empty string" unless value.is_a?(String) && !value.empty?

      URI.encode_www_form_component(value).gsub('+', '%20')
    end

    def get(path, query = {})
      params = query.compact
      uri = URI("#{@base_url}#{path}")
      uri.query = URI.encode_www_form(params) unless params.empty?
      attempt = 0
      loop do
        response = request(uri)
        return parse(response) if response.is_a?(Net::HTTPSuccess)

        status = response.code.to_i
        retry_after = self.class.parse_retry_after(response['Retry-After'])
        if status == 429
          wait = retry_after || [2**attempt, @max_retry_wait].min
          if attempt < @max_retries && wait <= @max_retry_wait
            sleep(wait)
            attempt += 1
            next
          end
        end
        raise Error.new(status, error_message(response), retry_after: retry_after)
      end
    end

    def request(uri)
      req = Net::HTTP::Get.new(uri)
      req['Authorization'] = @key
      req['User-Agent'] = "exteros-ruby/#{VERSION}"
      req['Accept'] = 'application/json'
      Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == 'https',
                                          open_timeout: @timeout, read_timeout: @timeout) do |http|
        http.request(req)
      end
    rescue *NETWORK_ERRORS => e
      raise Error.new(0, "cannot reach the Exteros API: #{e.message}")
    end

    def parse(response)
      JSON.parse(response.body)
    rescue JSON::ParserError
      raise Error.new(response.code.to_i, 'the API answered something that is not JSON')
    end

    def error_message(response)
      message = JSON.parse(response.body.to_s).dig('error', 'message')
      return message if message.is_a?(String)

      fallback(response)
    rescue JSON::ParserError, TypeError, NoMethodError
      fallback(response)
    end

    def fallback(response)
      text = response.body.to_s[0, 200]
      text.empty? ? response.message.to_s : text
    end
  end
end
