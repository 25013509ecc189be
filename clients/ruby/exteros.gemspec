# frozen_string_literal: true

require_relative 'lib/exteros/version'

Gem::Specification.new do |spec|
  spec.name = 'exteros'
  spec.version = Exteros::VERSION
  spec.summary = 'Ruby client for the Exteros REST API'
  spec.description = 'Impression, discovery, engagement and interaction counts per location ' \
                     'and local day, locations and their last update, from the Exteros API.'
  spec.authors = ['Exteros']
  spec.license = 'Nonstandard'
  spec.homepage = 'https://api.exteros.com'
  spec.required_ruby_version = '>= 3.0'
  spec.files = Dir['lib/**/*.rb'] + ['README.md']
  spec.require_paths = ['lib']
  spec.metadata['rubygems_mfa_required'] = 'true'
end
