# frozen_string_literal: true

# `gem build` gives an installable gem: install the built file into a temp dir (--local,
# offline) and require it from there in a clean Ruby that does not see this source tree.

require 'rubygems/package'
require_relative 'test_helper'

class PackageTest < Minitest::Test
  GEM_DIR = File.expand_path('..', __dir__)

  def run_cmd(env, *argv, chdir:)
    out, err, status = Open3.capture3(env, *argv, chdir: chdir)
    assert status.success?, "#{argv.join(' ')} failed: #{err}#{out}"
    out
  end

  def test_built_gem_installs_and_requires
    Dir.mktmpdir('exteros-gem-') do |tmp|
      gem_file = File.join(tmp, 'exteros.gem')
      run_cmd({}, 'gem', 'build', 'exteros.gemspec', '--strict', '--output', gem_file, chdir: GEM_DIR)
      spec = Gem::Package.new(gem_file).spec
      assert_equal 'exteros', spec.name
      assert_equal Exteros::VERSION, spec.version.to_s
      assert_equal %w[README.md lib/exteros.rb lib/exteros/api_client.rb lib/exteros/error.rb
                      lib/exteros/version.rb], spec.files.sort
      assert_empty spec.runtime_dependencies

      gems = File.join(tmp, 'gems')
      run_cmd({}, 'gem', 'install', '--local', gem_file, '--install-dir', gems, '--no-document',
              chdir: tmp)
      env = { 'GEM_HOME' => gems, 'GEM_PATH' => gems, 'RUBYLIB' => nil, 'RUBYOPT' => nil }
      script = <<~RUBY
        require 'exteros'
        require 'json'
        api = Exteros::APIClient.authorize!('k', base_url: 'http://127.0.0.1:1')
        begin
          api.last_update('x')
        rescue Exteros::Error => e
          puts JSON.generate(where: $LOADED_FEATURES.grep(%r{/exteros\\.rb\\z}), status: e.status,
                             methods: Exteros::APIClient.public_instance_methods(false).sort)
        end
      RUBY
      got = JSON.parse(run_cmd(env, 'ruby', '-e', script, chdir: tmp))
      assert_equal 1, got['where'].size
      assert got['where'][0].start_with?(gems), "loaded #{got['where'][0]}, not the installed gem"
      assert_equal 0, got['status']
      %w[impression_counts discovery_counts engagement_counts interaction_counts locations
         last_update].each { |m| assert_includes got['methods'], m }
    end
  end
end
