# frozen_string_literal: true

# Ruby client for the Exteros REST API (in-store traffic counts). Standard library only.
#
#   require 'exteros'
#   api = Exteros::APIClient.authorize!('YOUR_API_KEY')
require_relative 'exteros/version'
require_relative 'exteros/error'
require_relative 'exteros/api_client'
