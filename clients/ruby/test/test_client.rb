# frozen_string_literal: true

# The Ruby client against a real exteros-central serve: every case of the shared table
# (clients/testdata/published_examples.json), byte for byte.

require_relative 'test_helper'

class SharedTableTest < Minitest::Test
  Harness::TABLE['cases'].each_with_index do |kase, i|
    define_method("test_#{format('%02d', i)}_#{kase['name'].gsub(/\W+/, '_')}") do
      server = Harness.table_server
      api = Exteros::APIClient.authorize!(kase['key'] || server.key, base_url: server.base_url)
      status, text = Harness.raw_get(server, kase)
      assert_equal kase['status'], status, "the server answered #{text}"
      assert_equal JSON.generate(kase['body']), text, 'the server no longer sends the table body'
      if kase['status'] < 400
        result = Harness.call_case(api, kase)
        assert_equal kase['body'], result
        assert_equal text, JSON.generate(result), 'not byte-identical to the raw answer'
      else
        err = assert_raises(Exteros::Error) { Harness.call_case(api, kase) }
        assert_equal kase['status'], err.status
        assert_equal kase['body']['error']['message'], err.message
      end
    end
  end
end

class ArgumentsTest < Minitest::Test
  def api
    server = Harness.table_server
    Exteros::APIClient.authorize!(server.key, base_url: "#{server.base_url}/")
  end

  def test_a_date_object_is_its_calendar_day
    assert_equal [{ 'date' => '2020-01-01', 'engagements' => 650 }],
                 api.engagement_counts('madison-ave-store', Date.new(2020, 1, 1), interval: 'day')
  end

  def test_hour_all_and_interval_hour_are_the_defaults
    assert_equal Harness::TABLE['cases'][0]['body'],
                 api.impression_counts('madison-ave-store', '2020-01-01', hour: 'all', interval: 'hour')
  end

  def test_bad_arguments_raise_before_any_request
    assert_raises(ArgumentError) { api.impression_counts('', '2020-01-01') }
    assert_raises(ArgumentError) { api.impression_counts('madison-ave-store', 20_200_101) }
    assert_raises(ArgumentError) { api.counts(:footfall, 'madison-ave-store', '2020-01-01') }
    assert_raises(ArgumentError) { Exteros::APIClient.authorize!('') }
    assert_raises(ArgumentError) { Exteros::APIClient.authorize!(nil) }
  end

  def test_location_names_are_escaped_into_one_path_segment
    # Unescaped, '?' and '#' would end the path and the API would answer another question.
    err = assert_raises(Exteros::Error) { api.last_update('no such?place#x') }
    assert_equal 404, err.status
    assert_equal "unknown location 'no such?place#x'", err.message
  end

  def test_no_server_is_status_0
    err = assert_raises(Exteros::Error) do
      Exteros::APIClient.authorize!('k', base_url: 'http://127.0.0.1:1').locations
    end
    assert_equal 0, err.status
    assert_match(/cannot reach the Exteros API/, err.message)
  end
end
