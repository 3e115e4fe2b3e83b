# frozen_string_literal: true
RSpec.describe "the implementation under test" do
  it "is the one EM_IMPL names, and no file of the other is loaded" do
    expect { ImplCheck.verify! }.not_to raise_error
  end

  it "is em_rust, with its version constant", em_rust_only: "EM_RUST_VERSION is em_rust's" do
    expect(EventMachine::EM_RUST_VERSION).to match(/\A\d+\.\d+\.\d+/)
    expect($LOADED_FEATURES.grep(REAL_EM_FILES)).to eq([])
  end
end
